"""The timeline: state as a function of time."""

from __future__ import annotations

from esc_netconf.vim.sim.timeline import GONE, Timeline


def _timeline() -> Timeline:
    timeline = Timeline(base={"status": "BUILD", "created_at": 100.0, "updated_at": 100.0})
    timeline.schedule((110.0, {"status": "ACTIVE"}), (105.0, {"task": "spawning"}))
    return timeline


def test_view_applies_steps_due_in_time_order() -> None:
    timeline = _timeline()
    assert timeline.view(104.9)["status"] == "BUILD" and "task" not in timeline.view(104.9)
    assert timeline.view(105.0)["task"] == "spawning"
    later = timeline.view(500.0)
    assert (later["status"], later["updated_at"]) == ("ACTIVE", 110.0)
    assert timeline.view(104.0)["updated_at"] == 100.0


def test_settle_folds_past_steps_and_keeps_future() -> None:
    timeline = _timeline()
    timeline.settle(106.0)
    assert timeline.base["task"] == "spawning" and timeline.steps == [(110.0, {"status": "ACTIVE"})]
    assert not timeline.is_settled(106.0) and timeline.is_settled(110.0)


def test_replace_future_drops_pending_steps() -> None:
    timeline = _timeline()
    timeline.replace_future(106.0, (107.0, {"status": "DELETING"}))
    assert timeline.view(1000.0)["status"] == "DELETING"
    assert timeline.view(1000.0)["task"] == "spawning"


def test_gone_at() -> None:
    timeline = _timeline()
    assert timeline.gone_at is None
    timeline.schedule((120.0, {GONE: True}))
    assert timeline.gone_at == 120.0
    timeline.settle(130.0)
    assert timeline.gone_at == 120.0


def test_json_round_trip() -> None:
    timeline = _timeline()
    assert Timeline.from_json(timeline.to_json()) == timeline

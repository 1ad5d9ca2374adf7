"""The pure judges: every status combination the VIM can show, without a cloud."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from esc_netconf.core.backup.decide import judge_create, judge_delete, judge_volume, timed_out
from esc_netconf.core.backup.polling import VimView
from esc_netconf.vim.base import (Image, ImageStatus, Volume, VolumeSnapshot, VolumeSnapshotStatus,
                                  VolumeStatus)

T = datetime(2026, 1, 1, tzinfo=timezone.utc)


def image(status: ImageStatus, *, snapshots: tuple[str, ...] = ()) -> Image:
    props = {}
    if snapshots:
        props["block_device_mapping"] = json.dumps([{"source_type": "snapshot", "snapshot_id": s} for s in snapshots])
    return Image("img", "n", status, "p", 1, "c", "qcow2", "bare", 0, 0, "private", T, T, props)


def vsnap(sid: str, status: VolumeSnapshotStatus) -> VolumeSnapshot:
    return VolumeSnapshot(sid, "snapshot for n", status, "p", "vol", 1, T, T)


def volume(status: VolumeStatus) -> Volume:
    return Volume("v", "name", status, "p", 1, None, True, False, None, "vs", (), T, T)


@pytest.mark.parametrize(("status", "expected"), [
    (ImageStatus.QUEUED, None), (ImageStatus.SAVING, None), (ImageStatus.ACTIVE, True),
    (ImageStatus.KILLED, False), (ImageStatus.DELETED, False)])
def test_create_by_image_status(status: ImageStatus, expected: bool | None) -> None:
    outcome = judge_create(VimView(images={"img": image(status)}), "img", "vm")
    assert (outcome.ok if outcome else None) is expected
    if outcome and outcome.ok:
        assert outcome.message == "Snapshot image for VM [vm] is active." and outcome.volume_snapshot_id is None


def test_create_missing_image_fails() -> None:
    outcome = judge_create(VimView(), "img", "vm")
    assert outcome is not None and not outcome.ok and "disappeared" in outcome.message


@pytest.mark.parametrize(("status", "expected"), [
    (VolumeSnapshotStatus.CREATING, None), (VolumeSnapshotStatus.AVAILABLE, True),
    (VolumeSnapshotStatus.ERROR, False), (None, False)])
def test_create_waits_for_the_volume_snapshot(status: VolumeSnapshotStatus | None, expected: bool | None) -> None:
    snapshots = {"vs": vsnap("vs", status)} if status else {}
    view = VimView(images={"img": image(ImageStatus.ACTIVE, snapshots=("vs",))}, volume_snapshots=snapshots)
    outcome = judge_create(view, "img", "vm")
    assert (outcome.ok if outcome else None) is expected
    if outcome and outcome.ok:
        assert outcome.volume_snapshot_id == "vs"


def test_delete_needs_both_gone() -> None:
    both = VimView(images={"img": image(ImageStatus.ACTIVE)},
                   volume_snapshots={"vs": vsnap("vs", VolumeSnapshotStatus.DELETING)})
    assert judge_delete(both, "s", "img", "vs") is None
    only_volume = VimView(volume_snapshots={"vs": vsnap("vs", VolumeSnapshotStatus.DELETING)})
    assert judge_delete(only_volume, "s", "img", "vs") is None
    assert judge_delete(VimView(images={"img": image(ImageStatus.PENDING_DELETE)}), "s", "img", None) is None
    done = judge_delete(VimView(images={"img": image(ImageStatus.DELETED)}), "s", "img", "vs")
    assert done is not None and done.ok and done.message == "Snapshot image [s] has been deleted."
    failed = judge_delete(VimView(volume_snapshots={"vs": vsnap("vs", VolumeSnapshotStatus.ERROR_DELETING)}),
                          "s", None, "vs")
    assert failed is not None and not failed.ok


@pytest.mark.parametrize(("status", "expected"), [
    (VolumeStatus.CREATING, None), (VolumeStatus.AVAILABLE, True), (VolumeStatus.ERROR, False), (None, False)])
def test_volume(status: VolumeStatus | None, expected: bool | None) -> None:
    view = VimView(volumes={"v": volume(status)} if status else {})
    outcome = judge_volume(view, "v", "name")
    assert (outcome.ok if outcome else None) is expected


def test_timeout_allows_fractions() -> None:
    assert timed_out(29.9, 0.5, "X") is None
    outcome = timed_out(30.1, 0.5, "X")
    assert outcome is not None and not outcome.ok and outcome.message == "X did not complete within 0.5 minute(s)."

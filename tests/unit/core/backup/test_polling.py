"""The batched poller: one listing per kind per due instant, live periods, timeouts, VIM trouble."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timezone

from esc_netconf.core.backup.polling import BatchPoller, VimView, Watch
from esc_netconf.vim.base import Image, ImageStatus, VimCallCounter, VimFailure

T = datetime(2026, 1, 1, tzinfo=timezone.utc)


class _Images:
    """A driver with only ``list_images``; images become active when ``ready`` says so."""

    def __init__(self) -> None:
        self.calls = VimCallCounter()
        self.ready: set[str] = set()
        self.fail = False
        self.requests: list[list[str]] = []

    async def list_images(self, *, ids: Sequence[str] | None = None, name: str | None = None) -> list[Image]:
        self.calls.record("list_images")
        self.requests.append(sorted(ids or []))
        if self.fail:
            raise VimFailure("connection refused")
        return [Image(i, i, ImageStatus.ACTIVE if i in self.ready else ImageStatus.SAVING, "p", 1, "c", "raw",
                      "bare", 0, 0, "private", T, T) for i in ids or []]


def _watch(image_id: str, period: float = 0.02, expired: bool = False) -> Watch[str]:
    def judge(view: VimView) -> str | None:
        found = view.images.get(image_id)
        return "done" if found is not None and found.status is ImageStatus.ACTIVE else None
    return Watch(judge=judge, expired=lambda: "expired" if expired else None, period=lambda: period,
                 image_ids=(image_id,))


async def test_many_watches_share_one_listing_per_round() -> None:
    driver = _Images()
    poller = BatchPoller(driver)  # type: ignore[arg-type]
    # immediately: all 50 are due at the first round; registered on the period grid instead, a pause of this
    # process across a tick boundary while they register would split them over two instants (flaky under load)
    waits = [asyncio.ensure_future(poller.wait(_watch(f"i{n}"), immediately=True)) for n in range(50)]
    await asyncio.sleep(0.05)
    assert poller.watching == 50
    rounds = driver.calls["list_images"]
    assert rounds >= 1 and all(len(r) == 50 for r in driver.requests)
    driver.ready.update(f"i{n}" for n in range(50))
    async with asyncio.timeout(2):
        assert await asyncio.gather(*waits) == ["done"] * 50
    assert driver.calls["list_images"] <= rounds + 2
    await poller.close()


async def test_expired_applies_even_when_the_vim_is_down() -> None:
    driver = _Images()
    driver.fail = True
    poller = BatchPoller(driver)  # type: ignore[arg-type]
    async with asyncio.timeout(2):
        assert await poller.wait(_watch("x", expired=True)) == "expired"
    assert driver.calls["list_images"] == 1


async def test_immediately_polls_without_waiting_a_period() -> None:
    driver = _Images()
    driver.ready.add("x")
    poller = BatchPoller(driver)  # type: ignore[arg-type]
    async with asyncio.timeout(1):
        assert await poller.wait(_watch("x", period=60.0), immediately=True) == "done"


async def test_period_is_read_live_at_every_round() -> None:
    driver = _Images()
    poller = BatchPoller(driver)  # type: ignore[arg-type]
    reads: list[float] = []

    def period() -> float:
        reads.append(0.01)
        return 0.01 if len(reads) < 4 else 60.0  # the operator slows polling down after three rounds

    watch = _watch("x")
    watch.period = period
    waiter = asyncio.ensure_future(poller.wait(watch))
    await asyncio.sleep(0.15)
    assert len(reads) == 4 and driver.calls["list_images"] == 3
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    await poller.close()

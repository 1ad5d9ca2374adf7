"""The collector policy's sweep frees cyclic garbage that the freezes had kept (a NETCONF session's
cycles, once it ended, would otherwise stay in the permanent generation for good)."""

from __future__ import annotations

import gc
import weakref

from esc_netconf import gcpolicy


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_a_sweep_frees_frozen_cyclic_garbage_and_keeps_the_rest_frozen() -> None:
    try:
        gcpolicy.apply()
        a, b = _Node(), _Node()
        a.other, b.other = b, a
        gone = weakref.ref(a)
        gc.freeze()  # the pair lived through collections: frozen
        del a, b
        gc.collect()
        assert gone() is not None, "a full collection does not walk frozen objects"
        assert gcpolicy.sweep() >= 2
        assert gone() is None
        assert gc.get_freeze_count() > 0, "the survivors are frozen again"
        assert gcpolicy.applied().sweep_secs == gcpolicy.DEFAULT.sweep_secs
    finally:
        gcpolicy.reset()
    assert gcpolicy.applied() == gcpolicy.CPYTHON

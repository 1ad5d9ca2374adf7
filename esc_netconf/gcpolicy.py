"""How the server's process uses CPython's cyclic garbage collector (issue 13: no loop stall over 50 ms).

Why: CPython's collector stops every thread, the event loop's too, for as long as a collection takes, and
a *full* collection (generation 2) walks every container object alive in the process. A server holding
10,000 VMs with their specs, history and the YANG model (pyang's statement tree, lxml schemas, SQLAlchemy,
paramiko, aiohttp) has millions of them: in ``bench/deploy_scale.py --deployments 2000 --vms 5`` the
collector ran 11 full collections of up to 1.6 s each, the longest loop stalls of the run. The records
themselves rarely need the collector: the core's records (``core.model``) are trees that refer to each
other by id, never back, so reference counting frees them the moment they are dropped.

The policy, applied by :meth:`esc_netconf.app.Application.start` (so ``esc-netconf serve``, the tests'
servers and the benches all get it; :meth:`~esc_netconf.app.Application.stop` gives the process CPython's
behaviour back):

* ``gc.freeze()`` once the server has started: everything loaded at start-up (the YANG model, libraries,
  the restored state) moves to the collector's permanent generation, which no collection walks.
* after every collection, ``gc.freeze()`` again: what survived a collection is taken as long-lived (a
  deployment's records, the replay log's recent entries), so no collection walks more than what the
  allocations since the last one left. Freezing after collections of generation 1 only (until issue 13's
  loop-stall round) let generation 1 gather the survivors of ten young collections: up to 84,000 objects
  during a deploy of 2,000 x 5 VMs (the young generation grows past its threshold whenever old objects
  die, e.g. a commit's rows), collections of 20-70 ms CPU, the longest loop stalls left once the core paced
  its work. The price: an object that becomes *cyclic* garbage after it was frozen is never freed
  (acyclic garbage still is, by reference counting). The core's records are acyclic, and so, since the
  loop-stall round, are the store's statements (built once) and an edit's sibling indexes (closed after
  the walk), which had made about 13,000 cyclic objects per 300 x 5 VMs deployed
  (``tests/unit/test_no_cyclic_garbage.py``); NETCONF sessions still make some, which the sweep below frees.
  Measured with ``bench/deploy_scale.py --deployments 500 --churn 4`` on the shared machine: a full
  collection after the churn found 121,850 cyclic garbage objects (80,147 when freezing after generation 1
  only), the resident size 226 -> 255 MiB undeployed (221 -> 249); at 2,000 x 5 VMs the collections' CPU
  was 0.8-0.9 s in all against 1.9-2.5 s, the longest 16-41 ms against 17-71 ms.
* every ``sweep_secs`` (10 minutes), a sweep: unfreeze, one full collection, freeze again. Without it,
  cyclic garbage whose objects had been frozen would never be freed: a NETCONF session lives through
  several collections, so its objects are frozen, and the cycles among them (callbacks bound to their
  owners) became garbage for good when it ended: 600 sessions opened and closed left 74,048 such objects.
  The sweep bounds that to what one period leaves; it costs one full collection per period (at 10,000
  VMs about 0.5 s of CPU, the one stall over 50 ms this policy keeps, once in 10 minutes).
* every ``young_secs`` (50 ms), a collection of the young generation, run by the loop, whatever its count
  says. CPython counts allocations minus deallocations: while old objects die as fast as new ones are made
  and kept (a listing of thousands of servers replacing the previous one, a commit's rows), the count stays
  under its threshold and the young generation grows unseen, to hundreds of thousands of objects; the
  collection that finally comes walks them all, in whichever thread allocated last: 137 ms of CPU (0
  objects found) in the sim VIM's thread during a deploy of 2,000 x 5 VMs, stopping the loop as long. A
  young collection every 50 ms walks what 50 ms left, and the freeze after it takes those out of the walk.
* CPython's thresholds, kept: raising the first one (tried: 10,000) runs 20 times fewer young
  collections but not less collector time in all, and each generation-1 collection then walks up to
  100,000 objects (up to 100 ms, over the 50 ms goal).

Measured with ``bench/deploy_scale.py --deployments 2000 --vms 5 --batch 100 --gc-policy P`` on the shared
2-core machine (load 1-3.5): CPython's policy: 11 full collections, longest 715 ms wall (466 ms CPU), 3.6 s
in all, loop CPU between two wake-ups up to 502 ms; freezing after start-up and after full collections only
(``freeze-full``): longest full collection 152 ms wall (93 ms CPU), 0.7 s in all; this policy: no full
collection, the longest collection 44 ms CPU, loop CPU between two wake-ups up to 129 ms, of which the
collector's share is gone (123 ms without it: the edit commits, issue 13's other half). With the core's
work paced (``core.pacing``) and freezing after every collection (load 2-3): loop CPU between two wake-ups
31-40 ms, no collection in the loop's thread over that; the longest collections left (80-120 ms, now and
then) free cyclic garbage that others made: SQLAlchemy statements built per write, edit-config helpers.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from typing import Any

#: CPython's own thresholds (3.11).
CPYTHON_THRESHOLDS = (700, 10, 10)


@dataclass(frozen=True, slots=True)
class GcPolicy:
    """What :func:`apply` sets: thresholds, and when long-lived objects are frozen."""

    thresholds: tuple[int, int, int] = CPYTHON_THRESHOLDS
    freeze_at_start: bool = False
    #: after each collection of this generation or an older one, freeze the survivors (None: never)
    freeze_after: int | None = None
    #: seconds between sweeps (:func:`sweep`) while the server runs; None: never
    sweep_secs: float | None = None
    #: at most this many seconds between two collections of the young generation while the server runs (the
    #: loop runs one when the collector has not); None: the collector's threshold alone decides
    young_secs: float | None = None


#: The server's policy (why, and the figures: the module docstring).
DEFAULT = GcPolicy(freeze_at_start=True, freeze_after=0, sweep_secs=600.0, young_secs=0.05)
#: Python's behaviour, for comparison in the benches.
CPYTHON = GcPolicy()


class _FreezeAfter:
    """A ``gc.callbacks`` hook: once a collection of ``generation`` (or older) is over, freeze its survivors."""

    def __init__(self, generation: int) -> None:
        self.generation = generation

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "stop" and info.get("generation", 0) >= self.generation:
            gc.freeze()


_sweep_secs: float | None = None  # of the policy applied last (sweeps are the server's, not the collector's)
_young_secs: float | None = None  # the same for the young collections the server runs


def _hooks() -> list[_FreezeAfter]:
    return [hook for hook in gc.callbacks if isinstance(hook, _FreezeAfter)]


def apply(policy: GcPolicy = DEFAULT) -> None:
    """Set ``policy`` for the whole process (idempotent: applying it again replaces the previous one)."""
    global _sweep_secs, _young_secs
    gc.set_threshold(*policy.thresholds)
    _sweep_secs, _young_secs = policy.sweep_secs, policy.young_secs
    for hook in _hooks():
        gc.callbacks.remove(hook)
    if policy.freeze_after is not None:
        gc.callbacks.append(_FreezeAfter(policy.freeze_after))
    if policy.freeze_at_start:
        gc.collect()  # what start-up left as garbage should not be frozen with the rest
        gc.freeze()


def sweep() -> int:
    """Free the cyclic garbage the freezes kept: unfreeze, collect everything, freeze the survivors again.
    Returns the number of unreachable objects found."""
    gc.unfreeze()
    found = gc.collect()
    gc.freeze()
    return found


def reset() -> None:
    """Back to CPython's behaviour: thresholds, no hook, nothing frozen (benches compare against it)."""
    apply(CPYTHON)
    gc.unfreeze()


def applied() -> GcPolicy:
    """The policy in force now, as far as the collector shows it."""
    hooks = _hooks()
    return GcPolicy(thresholds=gc.get_threshold(), freeze_at_start=gc.get_freeze_count() > 0,
                    freeze_after=hooks[0].generation if hooks else None, sweep_secs=_sweep_secs,
                    young_secs=_young_secs)

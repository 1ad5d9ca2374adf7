"""How the server's process uses CPython's cyclic garbage collector (issue 13: no loop stall over 50 ms).

Why: CPython's collector stops every thread, the event loop's too, for as long as a collection takes, and
a *full* collection (generation 2) walks every container object alive in the process. A server holding
10,000 VMs with their specs, history and the YANG model (pyang's statement tree, lxml schemas, SQLAlchemy,
paramiko, aiohttp) has millions of them: in ``bench/deploy_scale.py --deployments 2000 --vms 5`` the
collector ran 11 full collections of up to 1.6 s each, the longest loop stalls of the run. The records
themselves rarely need the collector: the core's records (``core.model``) are trees that refer to each
other by id, never back, so reference counting frees them the moment they are dropped.

The policy, applied once by :meth:`esc_netconf.app.Application.start` (so ``esc-netconf serve``, the tests'
servers and the benches all get it):

* ``gc.freeze()`` once the server has started: everything loaded at start-up (the YANG model, libraries,
  the restored state) moves to the collector's permanent generation, which no collection walks.
* after every full collection, ``gc.freeze()`` again: what survived a full collection is long-lived (a
  deployment's records, the replay log's recent entries), and the next full collection walks only what
  was allocated since. A full collection therefore costs what the last stretch of work allocated, not
  what the server holds. The price: an object that becomes *cyclic* garbage after it was frozen is never
  freed (acyclic garbage still is, by reference counting). Keeping the hot records acyclic bounds that;
  ``bench/deploy_scale.py --churn`` measures the resident size over deploy/undeploy rounds.
* CPython's thresholds, kept: raising the first one (tried: 10,000) runs 20 times fewer young
  collections but not less collector time in all, and each generation-1 collection then walks up to
  100,000 objects (up to 100 ms, over the 50 ms goal).

Figures and the comparison with the other policies tried: see the docstring of :data:`DEFAULT`.
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
    freeze_after_full: bool = False


#: The server's policy. (Figures: see the module docstring and the README's Scale table.)
DEFAULT = GcPolicy(freeze_at_start=True, freeze_after_full=True)
#: Python's behaviour, for comparison in the benches.
CPYTHON = GcPolicy()


def _freeze_after_full(phase: str, info: dict[str, Any]) -> None:
    """A ``gc.callbacks`` hook: once a full collection is over, freeze its survivors."""
    if phase == "stop" and info.get("generation") == 2:
        gc.freeze()


def apply(policy: GcPolicy = DEFAULT) -> None:
    """Set ``policy`` for the whole process (idempotent: applying it again replaces the previous one)."""
    gc.set_threshold(*policy.thresholds)
    while _freeze_after_full in gc.callbacks:
        gc.callbacks.remove(_freeze_after_full)
    if policy.freeze_after_full:
        gc.callbacks.append(_freeze_after_full)
    if policy.freeze_at_start:
        gc.collect()  # what start-up left as garbage should not be frozen with the rest
        gc.freeze()


def reset() -> None:
    """Back to CPython's behaviour: thresholds, no hook, nothing frozen (benches compare against it)."""
    apply(CPYTHON)
    gc.unfreeze()


def applied() -> GcPolicy:
    """The policy in force now, as far as the collector shows it."""
    return GcPolicy(thresholds=gc.get_threshold(), freeze_at_start=gc.get_freeze_count() > 0,
                    freeze_after_full=_freeze_after_full in gc.callbacks)

"""Back-off for failed logins, per source address, shared by SSH and REST basic auth.

Theory of operation
-------------------
Each address has a record: failures in the current burst and the time before which it must wait.
The first ``free_failures`` failures cost nothing more than the key derivation; each failure after them
makes the address wait ``first_backoff`` seconds, doubled per further failure up to ``max_backoff``.
An attempt made while waiting is refused *without* checking the password (no key derivation, no answer
to learn from): SSH answers "authentication failed", REST answers 429 with ``Retry-After``. A success
clears the record, so a user who mistyped gets in as soon as the wait is over; a user at another address
is never affected. A record with no failure for ``forget_after`` seconds ends its burst.

Logging is per burst, not per attempt (a guesser at 25 attempts per second must not write 25 lines per
second): one line when an address starts waiting, and one line with the count when its burst ends
(next success, or its first failure after the quiet period). Single failures are logged by the callers
at debug level only.

Thread-safe: paramiko calls it from its transport threads, REST from the event loop; each call is a few
dictionary operations under one lock. At most ``capacity`` addresses are remembered (the quietest are
forgotten first), so a spoofed-source flood cannot grow it without bound.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from esc_netconf.limits import EdgeLimits

log = logging.getLogger("esc_netconf.auth")

_CAPACITY = 10_000


@dataclass
class _Record:
    failures: int = 0
    refused: int = 0
    wait_until: float = 0.0
    last_failure: float = 0.0
    announced: bool = False


class AuthThrottle:
    """Per-address login back-off (see the module docstring)."""

    def __init__(self, limits: EdgeLimits = EdgeLimits(), *, clock: Callable[[], float] = time.monotonic,
                 capacity: int = _CAPACITY) -> None:
        self._free = limits.auth_free_failures
        self._first = limits.auth_first_backoff
        self._max = limits.auth_max_backoff
        self._forget_after = limits.auth_forget_after
        self._clock = clock
        self._capacity = capacity
        self._lock = threading.Lock()
        self._records: OrderedDict[str, _Record] = OrderedDict()

    def wait_for(self, address: str) -> float:
        """Seconds ``address`` must still wait before its next attempt is checked (0: check it now).

        A positive answer counts as a refused attempt of the burst.
        """
        now = self._clock()
        with self._lock:
            record = self._records.get(address)
            if record is None:
                return 0.0
            remaining = record.wait_until - now
            if remaining <= 0:
                return 0.0
            record.refused += 1
            return remaining

    def failed(self, address: str, what: str) -> bool:
        """A wrong password from ``address`` (``what`` names the protocol and user, for the log).

        Returns whether the caller should log this failure itself: true for the free failures of a
        burst, false once the burst is logged here as a whole.
        """
        now = self._clock()
        with self._lock:
            record = self._records.get(address)
            if record is not None and now - record.last_failure > self._forget_after:
                self._end_burst(address, record, "quiet")
                record = None
            if record is None:
                record = self._records[address] = _Record()
                while len(self._records) > self._capacity:
                    self._records.popitem(last=False)
            self._records.move_to_end(address)
            record.failures += 1
            record.last_failure = now
            over = record.failures - self._free
            if over <= 0:
                return True
            delay = min(self._max, self._first * 2 ** (over - 1))
            record.wait_until = now + delay
            if not record.announced:
                record.announced = True
                log.warning("%d failed logins from %s (last: %s); each further attempt waits, up to %.0f s; "
                            "the burst is summed up when it ends", record.failures, address, what, self._max)
            return False

    def succeeded(self, address: str) -> None:
        """A login from ``address`` succeeded: its burst (if any) ends."""
        with self._lock:
            record = self._records.pop(address, None)
            if record is not None:
                self._end_burst(address, record, "login succeeded")

    def _end_burst(self, address: str, record: _Record, why: str) -> None:
        if record.announced:
            log.warning("Login burst from %s ended (%s): %d failed logins, %d attempts refused while waiting",
                        address, why, record.failures, record.refused)

"""What the REST callbacks need kept across a restart, as a Protocol the REST layer owns.

Two kinds of record:

* a ``Registration``: the callback URLs of one transaction, when it was created, when its last event
  was routed, and when its operation was seen to finish (``None`` while events may still come);
* a ``PendingDelivery``: one POST (URL, headers, body) in the outbox.  It is written before the first
  attempt and removed (``settle``) once delivered or given up, so whatever is in the outbox after a
  crash is exactly what may not have reached its receiver (at-least-once: a POST that was answered just
  before the crash is sent again; the ``ESC-Event-Id`` header lets the receiver drop the duplicate).

Times are wall-clock seconds since the Unix epoch (they must mean the same thing after a restart).
``SqlCallbackStore`` (``esc_netconf.store.callback_store``) is the durable implementation;
``MemoryCallbackStore`` below is its in-memory twin, for tests and for an API built without a database.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

__all__ = ["CallbackStore", "MemoryCallbackStore", "OutgoingPost", "PendingDelivery", "Registration"]


@dataclass(frozen=True, slots=True)
class Registration:
    """The callback URLs of one transaction."""

    transaction_id: str
    urls: tuple[str, ...]
    created: float
    last_event: float
    finished: float | None = None


@dataclass(frozen=True, slots=True)
class OutgoingPost:
    """One POST to put into the outbox (its id is given by the store)."""

    url: str
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class PendingDelivery:
    """One POST in the outbox; ``delivery_id`` increases in the order the posts were enqueued."""

    delivery_id: int
    transaction_id: str
    event_id: str
    url: str
    headers: Mapping[str, str]
    body: bytes
    created: float


class CallbackStore(Protocol):
    """Durable registrations and outbox; every method has committed when it returns."""

    def load_registrations(self) -> list[Registration]:
        """Every registration not deleted, oldest first."""
        ...

    def save_registration(self, registration: Registration) -> None:
        """Insert or replace the registration of ``registration.transaction_id``."""
        ...

    def delete_registration(self, transaction_id: str) -> None:
        """Forget one registration (absent is fine)."""
        ...

    def finish_registrations(self, transaction_ids: Sequence[str], finished: float) -> None:
        """Record that these transactions' operations ended at ``finished`` (unless already recorded)."""
        ...

    def prune_registrations(self, finished_before: float) -> int:
        """Delete the registrations that finished before ``finished_before``; returns how many."""
        ...

    def enqueue(self, transaction_id: str, event_id: str, posts: Sequence[OutgoingPost], at: float) -> list[int]:
        """Add ``posts`` to the outbox (and note ``at`` as the registration's last event), in one
        transaction; returns their delivery ids, in order.  If the outbox already holds ``event_id`` for
        this transaction (the core delivered the event again after a crash), adds nothing and returns []:
        those deliveries are resumed from the outbox."""
        ...

    def settle(self, delivery_id: int) -> None:
        """The delivery is over (delivered or given up): remove it from the outbox (absent is fine)."""
        ...

    def load_outbox(self) -> list[PendingDelivery]:
        """Every pending delivery, by delivery id."""
        ...


@dataclass
class MemoryCallbackStore:
    """``CallbackStore`` in memory: same behaviour, nothing survives the process."""

    registrations: dict[str, Registration] = field(default_factory=dict)
    outbox: dict[int, PendingDelivery] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def load_registrations(self) -> list[Registration]:
        return sorted(self.registrations.values(), key=lambda r: (r.created, r.transaction_id))

    def save_registration(self, registration: Registration) -> None:
        self.registrations[registration.transaction_id] = registration

    def delete_registration(self, transaction_id: str) -> None:
        self.registrations.pop(transaction_id, None)

    def finish_registrations(self, transaction_ids: Sequence[str], finished: float) -> None:
        for tid in transaction_ids:
            found = self.registrations.get(tid)
            if found is not None and found.finished is None:
                self.registrations[tid] = replace(found, finished=finished)

    def prune_registrations(self, finished_before: float) -> int:
        old = [tid for tid, r in self.registrations.items() if r.finished is not None and r.finished < finished_before]
        for tid in old:
            del self.registrations[tid]
        return len(old)

    def enqueue(self, transaction_id: str, event_id: str, posts: Sequence[OutgoingPost], at: float) -> list[int]:
        if any(d.transaction_id == transaction_id and d.event_id == event_id for d in self.outbox.values()):
            return []
        found = self.registrations.get(transaction_id)
        if found is not None:
            self.registrations[transaction_id] = replace(found, last_event=at)
        ids: list[int] = []
        for post in posts:
            delivery_id = next(self._ids)
            self.outbox[delivery_id] = PendingDelivery(delivery_id, transaction_id, event_id, post.url,
                                                       dict(post.headers), post.body, at)
            ids.append(delivery_id)
        return ids

    def settle(self, delivery_id: int) -> None:
        self.outbox.pop(delivery_id, None)

    def load_outbox(self) -> list[PendingDelivery]:
        return [self.outbox[k] for k in sorted(self.outbox)]

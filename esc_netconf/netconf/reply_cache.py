"""Serialized answers of read-only operations, kept for as long as the running configuration they
were computed from is the running configuration.

Why: a ``get-config`` of an unchanged datastore gives the same bytes every time, and copying and
serializing the tree (plus filtering it, for a filtered one) is most of what the operation costs. So
the answer is serialized once and sent again as a byte copy, even straight from the session's
transport thread (``connection.py``) when the session has nothing else in progress.

What an answer depends on, and so what the key holds:

* the running configuration, by the datastore's ``generation``, which changes whenever another tree
  becomes the running tree (a commit, a standby's reload). The cache holds the answers of one
  generation only and forgets them all as soon as it is asked about another: an answer can never
  outlive the configuration it was computed from, whatever changed it;
* the operation element as sent (serialized: its parameters, its filter, and the namespace prefixes in
  scope that an XPath filter may use). Nothing else varies the answer: there is one datastore
  (``running``; no candidate), no access control model (every user sees all of it) and no
  with-defaults parameter.

Only answers that succeeded are stored, so a hit needs no check of the parameters. Bounded in entries
and bytes. Thread-safe: the loop fills it, transport threads read it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from lxml import etree

from esc_netconf.netconf.session import SerializedBody

MAX_ENTRIES = 32
MAX_BYTES = 64 * 2**20


def operation_key(operation: etree._Element) -> bytes:
    """The key of an operation: its serialized form, with the namespaces in scope that it uses."""
    return etree.tostring(operation, encoding="UTF-8")


class ReplyCache:
    """Answers (``SerializedBody``) by operation key, for one generation of the running configuration
    at a time."""

    def __init__(self, *, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES) -> None:
        self._lock = threading.Lock()
        self._generation: int | None = None
        self._answers: OrderedDict[bytes, SerializedBody] = OrderedDict()
        self._bytes = 0
        self._max_entries = max_entries
        self._max_bytes = max_bytes

    def get(self, generation: int, key: bytes) -> SerializedBody | None:
        """The answer computed from the configuration of ``generation`` for ``key``, or None."""
        with self._lock:
            if generation != self._generation:
                return None
            answer = self._answers.get(key)
            if answer is not None:
                self._answers.move_to_end(key)
            return answer

    def put(self, generation: int, key: bytes, answer: SerializedBody) -> None:
        """Keep ``answer``, computed from the configuration of ``generation``, which must be the running
        one now (the answers of any other generation are dropped)."""
        size = len(answer.data) + len(key)
        with self._lock:
            if generation != self._generation:
                self._generation, self._answers, self._bytes = generation, OrderedDict(), 0
            if size > self._max_bytes:
                return
            previous = self._answers.pop(key, None)
            if previous is not None:
                self._bytes -= len(previous.data) + len(key)
            self._answers[key] = answer
            self._bytes += size
            while len(self._answers) > self._max_entries or self._bytes > self._max_bytes:
                old_key, old = self._answers.popitem(last=False)
                self._bytes -= len(old.data) + len(old_key)

    def clear(self) -> None:
        """Forget everything (also the generation)."""
        with self._lock:
            self._generation, self._answers, self._bytes = None, OrderedDict(), 0

"""Shared pieces of the hardening tests: a bystander client that keeps asking while an attack runs,
and the server's resident memory.

Every hardening test has the same shape (issue 11): a live server, the attack from one client
(bounded in count and time, loopback only), a second client whose answer times are measured while the
attack runs, and the attacker refused with a clear error.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from tests.integration.raw_client import RawNetconf

BASE = "urn:ietf:params:xml:ns:netconf:base:1.0"
GET_STATISTICS = (
    f'<get xmlns="{BASE}"><filter type="subtree"><netconf-state '
    'xmlns="urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring"><statistics/></netconf-state>'
    "</filter></get>"
).encode()
ANSWER_WITHIN = 2.0


def vm_rss_bytes(pid: int) -> int:
    """VmRSS of a process, from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def error_tags(reply: object) -> list[str]:
    element = reply.element  # type: ignore[attr-defined]
    return [str(t) for t in element.xpath("//nc:rpc-error/nc:error-tag/text()", namespaces={"nc": BASE})]


def error_messages(reply: object) -> str:
    element = reply.element  # type: ignore[attr-defined]
    return " ".join(element.xpath("//nc:rpc-error/nc:error-message/text()", namespaces={"nc": BASE}))


class Bystander:
    """A second, well-behaved client asking a small ``<get>`` in a loop; records each answer time.

    Started before the attack and stopped after it; :attr:`worst` is the longest wait seen.
    """

    def __init__(self, port: int, *, pause: float = 0.1) -> None:
        self._client = RawNetconf(port)
        self._pause = pause
        self._stop = threading.Event()
        self.times: list[float] = []
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Bystander:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(15)
        self._client.close()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                start = time.monotonic()
                reply = self._client.call(GET_STATISTICS)
                self.times.append(time.monotonic() - start)
                assert not error_tags(reply), error_tags(reply)
                self._stop.wait(self._pause)
        except BaseException as exc:  # reported by check()
            self.error = exc

    @property
    def worst(self) -> float:
        return max(self.times, default=0.0)

    def check(self, *, minimum_answers: int = 3) -> None:
        """The bystander was answered every time, each within :data:`ANSWER_WITHIN` seconds."""
        assert self.error is None, f"bystander failed: {self.error!r}"
        assert len(self.times) >= minimum_answers, f"only {len(self.times)} answers during the attack"
        assert self.worst < ANSWER_WITHIN, f"bystander waited {self.worst:.2f} s (answers: {self.times})"

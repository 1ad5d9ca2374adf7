"""KPI evaluation: whether a reading meets a KPI's condition, and the counters that turn polls into events.

``metric_value`` is text read according to ``metric_type``: a number for the integer and float types, the
text itself for STRING (which compares with EQ/NE only).  An ICMPPing reading is answered/not answered:
ESC writes such KPIs as ``GT 1`` and means "the guest answers", so a PING reading meets its KPI when the
guest answered, whatever the threshold says.  A missing reading never meets a condition.

``KpiCounter`` counts polls in a row: ``metric_occurrences_true`` met polls raise the event TRUE,
``metric_occurrences_false`` missed polls raise it FALSE; a KPI raises each outcome once, when it changes,
unless ``continuous_alarm`` re-raises TRUE on every poll that keeps meeting the condition.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from esc_netconf.core.collectors import Reading
from esc_netconf.core.model import KpiSpec

_NUMERIC: dict[str, Callable[[float, float], bool]] = {
    "GT": lambda a, b: a > b, "LT": lambda a, b: a < b, "GE": lambda a, b: a >= b, "LE": lambda a, b: a <= b,
    "EQ": lambda a, b: a == b, "NE": lambda a, b: a != b,
}


def meets(kpi: KpiSpec, reading: Reading) -> bool:
    """Whether ``reading`` meets the KPI's ``metric_cond metric_value`` (see the module docstring)."""
    if reading is None:
        return False
    if isinstance(reading, bool):
        return reading
    cond = (kpi.metric_cond or "EQ").upper()
    if (kpi.metric_type or "").upper() == "STRING":
        equal = str(reading) == (kpi.metric_value or "")
        return equal if cond == "EQ" else not equal if cond == "NE" else False
    try:
        return _NUMERIC.get(cond, _NUMERIC["EQ"])(float(reading), float(kpi.metric_value or "0"))
    except ValueError:
        return False


class Outcome(str, Enum):
    """What a poll raised."""

    TRUE = "TRUE"
    FALSE = "FALSE"


@dataclass(slots=True)
class KpiCounter:
    """The polls in a row of one KPI on one VM, and the outcome last raised."""

    met: int = 0
    missed: int = 0
    raised: Outcome | None = None

    def add(self, kpi: KpiSpec, ok: bool) -> Outcome | None:
        """Count one poll; the outcome to raise now, if any."""
        if ok:
            self.met, self.missed = self.met + 1, 0
            if self.met >= kpi.occurrences_true and (self.raised is not Outcome.TRUE or kpi.continuous_alarm):
                self.raised = Outcome.TRUE
                return Outcome.TRUE
            return None
        self.met, self.missed = 0, self.missed + 1
        if self.missed >= kpi.occurrences_false and self.raised is not Outcome.FALSE:
            self.raised = Outcome.FALSE
            return Outcome.FALSE
        return None


def actions_for(rules_actions: tuple[str, ...], outcome: Outcome) -> list[str]:
    """The actions of a rule that apply to ``outcome``: ``TRUE x``/``FALSE x`` by outcome, ``ALWAYS x`` always."""
    chosen = []
    for action in rules_actions:
        when, _, what = action.strip().partition(" ")
        if when.upper() in (outcome.value, "ALWAYS") and what.strip():
            chosen.append(what.strip())
    return chosen

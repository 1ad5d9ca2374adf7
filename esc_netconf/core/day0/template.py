"""Safe rendering of day-0 templates in the subset of Apache Velocity that ESC's templates use.

ESC renders day-0 templates with Velocity; real templates only use *references*: ``${NAME}`` and
``$NAME`` (a letter, then letters, digits or ``_``), the quiet forms ``$!{NAME}``/``$!NAME`` (render
nothing when undefined) and ``\\$NAME`` (an escaped reference: the text ``$NAME`` when ``NAME`` is
defined). This module implements exactly that with one regular expression and a dictionary lookup:
no expression language, no method calls, no directives, so a template can never run code.  Velocity
directives (``#set``, ``#if`` ...) are left as text, and so is anything that is not a reference.

As in Velocity, a reference to a name that has no value is left in the output as written (a shell
script's ``$HOME`` or ``$1`` survives), except for the names in ``unavailable``: names that do stand
for a value which this VM cannot have (a day-0 variable whose value pool is exhausted, a token the VIM
only knows after the server exists).  A template referring to one of those cannot be rendered
correctly, so ``render`` refuses it with ``TemplateError`` instead of leaving a hole in a VNF's
configuration.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from esc_netconf.core.errors import InvalidRequest

_REFERENCE = re.compile(
    r"(?P<escape>\\*)\$(?P<quiet>!?)(?:\{(?P<braced>[A-Za-z][A-Za-z0-9_]*)\}|(?P<bare>[A-Za-z][A-Za-z0-9_]*))"
)


class TemplateError(InvalidRequest):
    """A template refers to a value that cannot be given to this VM (e.g. an exhausted value pool)."""

    def __init__(self, message: str, names: tuple[str, ...]) -> None:
        super().__init__(message)
        self.names = names


def referenced_names(template: str) -> set[str]:
    """Every name the template refers to (escaped references included)."""
    return {m.group("braced") or m.group("bare") for m in _REFERENCE.finditer(template)}


def render(template: str, values: Mapping[str, str], *, unavailable: Mapping[str, str] | None = None) -> str:
    """``template`` with every reference to a name in ``values`` replaced by its value.

    ``unavailable`` maps a name to the sentence saying why this VM cannot have its value.

    :raises TemplateError: the template refers to a name in ``unavailable`` (the message joins the reasons).
    """
    missing = tuple(sorted(referenced_names(template) & set(unavailable or {})))
    if missing:
        assert unavailable is not None
        raise TemplateError(" ".join(unavailable[name] for name in missing), missing)

    def substitute(match: re.Match[str]) -> str:
        name = match.group("braced") or match.group("bare")
        slashes = match.group("escape")
        reference = match.group(0)[len(slashes):]
        value = values.get(name)
        if value is None:
            return match.group(0) if not match.group("quiet") else slashes
        kept = slashes[: len(slashes) // 2]  # as in Velocity, each pair of backslashes renders as one
        return kept + (reference if len(slashes) % 2 else value)

    return _REFERENCE.sub(substitute, template)

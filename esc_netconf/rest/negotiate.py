"""Content negotiation: XML unless the client asks for JSON.

ESC answers listings in XML by default and in JSON on ``Accept: application/json`` (the seed).  Errors
follow the same rule, except that a client that sent JSON and expressed no preference gets its error in
JSON, as an orchestrator speaking JSON would expect.  Quality values are honoured (``application/xml;q=0.5,
application/json`` is JSON); anything unparsable counts as no preference.
"""

from __future__ import annotations

from enum import Enum

__all__ = ["Format", "content_format", "preferred_format"]


class Format(str, Enum):
    """A representation the API speaks."""

    XML = "xml"
    JSON = "json"


def _kind(media_type: str) -> Format | None:
    media_type = media_type.strip().lower()
    if media_type in ("application/json", "text/json") or media_type.endswith("+json"):
        return Format.JSON
    if media_type in ("application/xml", "text/xml") or media_type.endswith("+xml"):
        return Format.XML
    return None


def _quality(params: list[str]) -> float:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return max(0.0, min(1.0, float(value)))
            except ValueError:
                return 0.0
    return 1.0


def preferred_format(accept: str | None) -> Format | None:
    """The format the ``Accept`` header prefers, or ``None`` when it names neither (absent, ``*/*``)."""
    best: tuple[float, int, Format] | None = None
    for position, item in enumerate((accept or "").split(",")):
        media_type, *params = item.split(";")
        kind = _kind(media_type)
        if kind is None:
            continue
        quality = _quality(params)
        if quality > 0 and (best is None or (quality, -position) > (best[0], best[1])):
            best = (quality, -position, kind)
    return best[2] if best else None


def content_format(content_type: str | None, body: bytes) -> Format | None:
    """The format of a request body: its ``Content-Type``, else the first character (``{``/``[`` or ``<``).

    ``curl -d`` sends ``application/x-www-form-urlencoded`` whatever the file holds, so the type is only
    trusted when it names JSON or XML.
    """
    kind = _kind((content_type or "").split(";")[0])
    if kind is not None:
        return kind
    start = body.lstrip()[:1]
    if start in (b"{", b"["):
        return Format.JSON
    if start == b"<":
        return Format.XML
    return None

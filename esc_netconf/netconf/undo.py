"""The inverse of every change an edit made to a tree in place, so that a failed edit is taken back.

An edit changes a tree in three ways only: it inserts a new element under an existing one, removes an
existing element, or sets the text of an existing leaf. :class:`UndoLog` records, before each, what
puts it back: the inserted element (to detach), the removed element with its parent and the node
just before it (to re-attach in the same place), the leaf with its old text. :meth:`UndoLog.undo`
applies them newest first, so every position it restores is exactly as it was when recorded, and the
tree comes back byte for byte (the elements themselves come back, not copies).

What happens inside an element the same edit created needs no entry: taking that element out takes
it all. An undo costs what the edit changed, never the size of the tree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree


@dataclass(frozen=True, slots=True)
class _Inserted:
    element: etree._Element


@dataclass(frozen=True, slots=True)
class _Removed:
    parent: etree._Element
    element: etree._Element
    previous: etree._Element | None  # the node just before it (any kind), None when it was first


@dataclass(frozen=True, slots=True)
class _Text:
    element: etree._Element
    text: str | None


@dataclass(slots=True)
class UndoLog:
    """What takes one in-place edit back (see the module docstring). The editor calls
    :meth:`inserted` after inserting, :meth:`removing` and :meth:`setting_text` before the change."""

    _entries: list[_Inserted | _Removed | _Text] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self._entries)

    def inserted(self, element: etree._Element) -> None:
        self._entries.append(_Inserted(element))

    def removing(self, element: etree._Element) -> None:
        parent = element.getparent()
        if parent is None:
            raise ValueError(f"<{element.tag}> has no parent to be removed from")
        self._entries.append(_Removed(parent, element, element.getprevious()))

    def setting_text(self, element: etree._Element) -> None:
        self._entries.append(_Text(element, element.text))

    def undo(self) -> None:
        """Take every recorded change back, newest first; the log is empty afterwards."""
        for entry in reversed(self._entries):
            if isinstance(entry, _Text):
                entry.element.text = entry.text
            elif isinstance(entry, _Inserted):
                parent = entry.element.getparent()
                if parent is not None:
                    parent.remove(entry.element)
            elif entry.previous is None:
                entry.parent.insert(0, entry.element)
            else:
                entry.previous.addnext(entry.element)
        self._entries.clear()

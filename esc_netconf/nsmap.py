"""lxml's ``nsmap`` with a default namespace, typed once for every module that builds XML.

lxml makes ``uri`` the default (unprefixed) namespace of a new element when given
``nsmap={None: uri}``, which is how every element we emit stays prefix-free. lxml-stubs 0.5.1 types
``nsmap`` as ``Mapping[str, str]`` and so rejects the ``None`` key; this module is the one place
that tells mypy otherwise, instead of an ignore at each of the many call sites.
"""

from __future__ import annotations

from typing import cast


def default_namespace(uri: str, /, **prefixes: str) -> dict[str, str]:
    """``{None: uri, **prefixes}``: ``uri`` as the default namespace, plus any prefixed ones."""
    nsmap: dict[str | None, str] = {None: uri}
    nsmap.update(prefixes)
    # lxml-stubs 0.5.1 is wrong here: lxml accepts None as the key of the default namespace.
    return cast("dict[str, str]", nsmap)

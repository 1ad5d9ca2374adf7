"""Data files shipped inside the package, found with ``importlib.resources``.

The YANG modules are the package ``esc_netconf.yang`` (the repository's ``yang/`` directory, mapped by
``setup.py``), so the same look-up works from a wheel, an editable install and a source checkout, and no
path is guessed relative to this file.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from esc_netconf.errors import EscError

YANG_PACKAGE = "esc_netconf.yang"


class PackageDataError(EscError):
    """The installed package does not carry its data files where they can be read as files."""


def yang_dir() -> Path:
    """The directory of the shipped YANG modules (``esc.yang``; the standard ones in ``ietf/``).

    :raises PackageDataError: when the package is installed without them, or zipped (pyang and
        yangson read modules from files).
    """
    try:
        root = resources.files(YANG_PACKAGE)
    except ModuleNotFoundError as exc:
        raise PackageDataError(f"the package {YANG_PACKAGE} (the YANG modules) is not installed: {exc}") from exc
    found = root.joinpath("esc.yang")
    path = Path(str(found))
    if not found.is_file() or not path.is_file():
        raise PackageDataError(f"the YANG modules of {YANG_PACKAGE} are not readable as files (found {found})")
    return path.parent


def standard_yang_dir() -> Path:
    """The standard (IETF) modules the protocol layer implements or imports."""
    return yang_dir() / "ietf"

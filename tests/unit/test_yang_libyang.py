"""libyang, an independent YANG implementation, accepts the modules silently (pyang is checked beside it)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

YANG_DIR = Path(__file__).resolve().parents[2] / "yang"


@pytest.mark.timeout(60)
def test_yanglint_prints_nothing() -> None:
    if shutil.which("yanglint") is None:
        pytest.skip("yanglint (Debian package libyang2-tools) is not installed")
    result = subprocess.run(["yanglint", "-p", str(YANG_DIR), str(YANG_DIR / "esc.yang")],
                            capture_output=True, text=True, timeout=60, check=False)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")

"""How VIM answers become ``VimError``s (status first, the VIM's sentence second, the sentence kept)."""

from __future__ import annotations

import pytest

from esc_netconf.vim.base import VimConflict, VimFailure, VimNotFound, VimQuotaExceeded, VimTimeout
from esc_netconf.vim.openstack_errors import classify, vim_error


@pytest.mark.parametrize(
    ("status", "message", "kind", "code"),
    [
        (404, "Instance 1234 could not be found.", VimNotFound, 404),
        (409, "Cannot 'stop' instance 1234 while it is in vm_state stopped", VimConflict, 409),
        (400, "Invalid volume: Volume status must be available or error", VimConflict, 400),
        (400, "Invalid input received: Volume size '1'GB cannot be smaller than the snapshot size 2GB.", VimConflict, 400),
        (400, "Fixed IP address 10.10.0.5 is already in use on instance 42.", VimConflict, 400),
        (400, "Can not find requested image", VimNotFound, 404),
        (400, "Image 9f3 could not be found.", VimNotFound, 404),
        (400, "Invalid key_name provided.", VimFailure, 400),
        (403, "Quota exceeded for instances: Requested 1, but already used 10 of 10 instances", VimQuotaExceeded, 403),
        (413, "VolumeLimitExceeded: Maximum number of volumes allowed (10) exceeded", VimQuotaExceeded, 413),
        (409, "Quota exceeded for resources: ['port'].", VimQuotaExceeded, 409),
        (403, "Policy doesn't allow os_compute_api:servers:create to be performed.", VimFailure, 403),
        (504, "Gateway Timeout", VimTimeout, 504),
        (500, "No valid host was found. There are not enough hosts available.", VimFailure, 500),
    ],
)
def test_classify(status: int, message: str, kind: type, code: int) -> None:
    error = classify(status, message)
    assert type(error) is kind and error.code == code and error.message == message


def test_not_found_names_its_subject() -> None:
    assert classify(404, "Not Found", "abc-123").message == "Not Found (abc-123)"
    assert classify(404, "Volume abc-123 could not be found.", "abc-123").message == "Volume abc-123 could not be found."


def test_sdk_exceptions() -> None:
    sdk = pytest.importorskip("openstack.exceptions")
    ksa = pytest.importorskip("keystoneauth1.exceptions")
    missing = vim_error(sdk.NotFoundException("No Server found for x1"), "x1")
    assert isinstance(missing, VimNotFound) and missing.message == "No Server found for x1"
    assert isinstance(vim_error(sdk.ResourceTimeout("Timeout waiting")), VimTimeout)
    assert isinstance(vim_error(ksa.ConnectTimeout("slow")), VimTimeout)
    refused = vim_error(ksa.ConnectFailure("Connection refused"))
    assert isinstance(refused, VimFailure) and refused.code == 503 and "Connection refused" in refused.message
    assert isinstance(vim_error(ValueError("odd")), VimFailure)
    already = VimConflict("kept")
    assert vim_error(already) is already

"""The protocol's value types and errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from esc_netconf.errors import EscError
from esc_netconf.vim.base import (
    BlockDevice,
    BlockDeviceSource,
    Image,
    ImageStatus,
    VimCallCounter,
    VimConflict,
    VimError,
    VimFailure,
    VimNotFound,
    VimQuotaExceeded,
    VimTimeout,
)

_T = datetime(2026, 1, 1, tzinfo=UTC)


def _image(properties: dict[str, str]) -> Image:
    return Image(
        id="i", name="n", status=ImageStatus.ACTIVE, project_id="p", size=0, checksum=None, disk_format="raw",
        container_format="bare", min_disk=0, min_ram=0, visibility="private", created_at=_T, updated_at=_T,
        properties=properties,
    )


@pytest.mark.parametrize(
    ("cls", "code", "builtin"),
    [(VimNotFound, 404, LookupError), (VimConflict, 409, None), (VimQuotaExceeded, 413, None),
     (VimTimeout, 504, TimeoutError), (VimFailure, 500, None)],
)
def test_errors_keep_message_and_code(cls: type[VimError], code: int, builtin: type[BaseException] | None) -> None:
    error = cls("the VIM said no")
    assert isinstance(error, VimError) and isinstance(error, EscError)
    assert (error.message, error.code, str(error)) == ("the VIM said no", code, "the VIM said no")
    assert cls("x", code=400).code == 400
    if builtin is not None:
        assert isinstance(error, builtin)


def test_block_device_to_nova_leaves_out_unset_fields() -> None:
    device = BlockDevice(BlockDeviceSource.IMAGE, "img", volume_size_gb=10, delete_on_termination=True)
    assert device.to_nova() == {
        "source_type": "image", "destination_type": "volume", "delete_on_termination": True,
        "uuid": "img", "boot_index": 0, "volume_size": 10,
    }


def test_volume_snapshot_ids_from_nova_properties() -> None:
    mapping = [
        {"source_type": "snapshot", "snapshot_id": "s-root", "boot_index": 0},
        {"source_type": "image", "image_id": "x"},
        {"source_type": "snapshot", "snapshot_id": "s-data", "boot_index": None},
    ]
    image = _image({"bdm_v2": "True", "block_device_mapping": json.dumps(mapping)})
    assert image.volume_snapshot_ids() == ("s-root", "s-data")
    assert len(image.block_device_mapping()) == 3


@pytest.mark.parametrize("raw", ["", "not json", "{}", "[1, 2]"])
def test_volume_snapshot_ids_tolerate_odd_properties(raw: str) -> None:
    assert _image({"block_device_mapping": raw}).volume_snapshot_ids() == ()


def test_call_counter() -> None:
    calls = VimCallCounter()
    calls.record("list_servers")
    calls.record("list_servers")
    calls.record("get_server")
    assert (calls["list_servers"], calls["get_server"], calls["other"], calls.total) == (2, 1, 0, 3)
    snapshot = calls.snapshot()
    calls.reset()
    assert calls.total == 0 and snapshot == {"list_servers": 2, "get_server": 1}

"""Deterministic image content: chunking and checksums."""

from __future__ import annotations

import hashlib

import pytest

from esc_netconf.vim.sim.content import BLOCK_SIZE, content_md5, iter_content


@pytest.mark.parametrize("size", [0, 1, BLOCK_SIZE - 1, BLOCK_SIZE, 3 * BLOCK_SIZE + 17])
@pytest.mark.parametrize("chunk", [1000, BLOCK_SIZE, 5 * BLOCK_SIZE])
def test_chunks_join_to_content_with_its_md5(size: int, chunk: int) -> None:
    chunks = list(iter_content("seed", size, chunk))
    assert all(len(c) == chunk for c in chunks[:-1]) and all(0 < len(c) <= chunk for c in chunks)
    data = b"".join(chunks)
    assert len(data) == size
    assert hashlib.md5(data).hexdigest() == content_md5("seed", size)


def test_content_depends_on_seed() -> None:
    assert content_md5("a", 4096) != content_md5("b", 4096)
    assert b"".join(iter_content("a", 4096, 512)) == b"".join(iter_content("a", 4096, 4096))


def test_chunk_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        list(iter_content("a", 10, 0))

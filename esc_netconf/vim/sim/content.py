"""Deterministic pseudo-content of simulated images.

An image's bytes are a pure function of ``(seed, size)``: 64 KiB blocks drawn from a PRNG
seeded with ``"<seed>/<block index>"``. So the simulated cloud stores no image data at all, yet
``download_image`` streams real bytes whose md5 is the ``checksum`` Glance would report, and a
downloaded EXPORT can be verified end to end.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from functools import lru_cache

__all__ = ["BLOCK_SIZE", "content_md5", "iter_content"]

BLOCK_SIZE = 64 * 1024


def _block(seed: str, index: int, length: int) -> bytes:
    return random.Random(f"{seed}/{index}").randbytes(length)


def _iter_blocks(seed: str, size: int) -> Iterator[bytes]:
    full, rest = divmod(size, BLOCK_SIZE)
    for index in range(full):
        yield _block(seed, index, BLOCK_SIZE)
    if rest:
        yield _block(seed, full, rest)


def iter_content(seed: str, size: int, chunk_size: int) -> Iterator[bytes]:
    """The image's bytes in chunks of exactly ``chunk_size`` (the last may be shorter)."""
    if chunk_size <= 0:
        raise ValueError("chunk_size must be positive")
    pending = bytearray()
    for block in _iter_blocks(seed, size):
        pending += block
        while len(pending) >= chunk_size:
            yield bytes(pending[:chunk_size])
            del pending[:chunk_size]
    if pending:
        yield bytes(pending)


@lru_cache(maxsize=256)
def content_md5(seed: str, size: int) -> str:
    """Hex md5 of the content (cached: catalog images are hashed once per process)."""
    digest = hashlib.md5(usedforsecurity=False)
    for block in _iter_blocks(seed, size):
        digest.update(block)
    return digest.hexdigest()

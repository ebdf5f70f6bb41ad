"""The landing zone: a folder laid out by source (``comtrade/``, later ``comext/``, ...)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path


def scan(landing: Path, source: str, patterns: Iterable[str]) -> list[Path]:
    """Files of one source under ``landing/<source>/``, recursively, in a stable order."""
    folder = landing / source
    if not folder.is_dir():
        return []
    found = {p for pattern in patterns for p in folder.rglob(pattern) if p.is_file()}
    return sorted(found)


def sha256_of(path: Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()

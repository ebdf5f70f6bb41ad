"""The landing zone: a folder laid out by source (``comtrade/``, ``comext/``, ...).

Every file under it ends up somewhere a person can see: loaded, refused with a reason, or
ignored with a reason (``raw.file_registry`` and the run summary). A file is ignored when its
name matches none of its source's patterns (a PDF in ``comtrade/``) or when it lies outside
every source folder (``landing/README.md``, a misspelt ``landing/comtrad/``).
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []


def matches(path: Path, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatch(path.name, pattern) for pattern in patterns)


def scan(landing: Path, source: str, patterns: Iterable[str]) -> list[Path]:
    """Files of one source under ``landing/<source>/``, recursively, in a stable order."""
    patterns = tuple(patterns)
    return [p for p in _files(landing / source) if matches(p, patterns)]


def unmatched(landing: Path, source: str, patterns: Iterable[str]) -> list[Path]:
    """Files under ``landing/<source>/`` whose name matches none of the source's patterns."""
    patterns = tuple(patterns)
    return [p for p in _files(landing / source) if not matches(p, patterns)]


def outside_sources(landing: Path, sources: Sequence[str]) -> list[Path]:
    """Files under ``landing`` that are in no source folder."""
    folders = [landing / s for s in sources]
    return [p for p in _files(landing) if not any(p.is_relative_to(f) for f in folders)]


def sha256_of(path: Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()

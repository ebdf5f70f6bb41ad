"""De-duplication state: which breach was announced, in ``$MIRROR_HOME/alerts_state.json``.

One entry per check key: the fingerprint of what fails (check + failed expectations + every
offending key). Same fingerprint again: nothing is sent. Another fingerprint: sent again (the
breach changed). The check passes while an entry is open: a resolution is sent and the entry
removed. Writes are atomic and serialised with a lock file (sensors and the CLI may overlap).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

Decision = Literal["send", "repeat", "resolve", "quiet"]


def decide(open_entry: dict[str, Any] | None, passed: bool, fingerprint: str) -> Decision:
    """send: new or changed breach; repeat: same breach again; resolve; quiet: all is well."""
    if passed:
        return "resolve" if open_entry else "quiet"
    if open_entry and open_entry.get("fingerprint") == fingerprint:
        return "repeat"
    return "send"


class AlertState:
    def __init__(self, path: Path):
        self.path = path

    def load(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        return data.get("open", {}) if isinstance(data, dict) else {}

    @contextmanager
    def locked(self) -> Iterator[dict[str, dict[str, Any]]]:
        """The open entries, locked; changes to the dict are saved on exit."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            entries = self.load()
            yield entries
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(
                json.dumps(
                    {
                        "updated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                        "open": entries,
                    },
                    indent=1,
                    sort_keys=True,
                ),
                encoding="utf-8",
            )
            os.replace(tmp, self.path)

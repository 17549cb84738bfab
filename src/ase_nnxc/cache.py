"""A results file that several processes append to: finished work survives an interruption.

One JSON object per line, ``{"key": ..., "value": ...}``. Appends hold a ``filelock`` lock
beside the file, so ranks on one machine or on a shared file system never interleave lines;
a line cut short by a kill is skipped when the file is read back. The later of two lines
with one key wins.

Example::

    cache = ResultCache("results/pbe.jsonl")
    done = cache.load()                # {key: value}
    cache.add("H2O/def2-svp", -76.33)  # from any rank, as soon as it is known
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class ResultCache:
    """Append-only JSON-lines results at ``path`` (created with its folder on the first add)."""

    def __init__(self, path):
        self.path = Path(path)

    def _lock(self):
        from filelock import FileLock

        return FileLock(str(self.path) + ".lock")

    def load(self) -> dict[str, Any]:
        """Every complete line's ``{key: value}`` (empty when the file does not exist)."""
        if not self.path.exists():
            return {}
        out = {}
        with self.path.open() as fh:
            for line in fh:
                try:
                    item = json.loads(line)
                    out[item["key"]] = item["value"]
                except (ValueError, KeyError, TypeError):
                    continue  # the unfinished last line of an interrupted write
        return out

    def add(self, key: str, value: Any) -> None:
        """Append ``value`` (JSON-serialisable) under ``key``, durably."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = (json.dumps({"key": key, "value": value}) + "\n").encode()
        with self._lock(), self.path.open("a+b") as fh:
            fh.seek(0, os.SEEK_END)
            if fh.tell():  # after a line cut short by a kill, start a fresh one
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) != b"\n":
                    line = b"\n" + line
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

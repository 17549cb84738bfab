"""Energies of one method on disk: a small JSON file, rewritten atomically after every species.

The file maps a species' content key (:attr:`Species.key`: atoms, positions, charge, spin) to
its record::

    {"name": "W4-11/h2o", "energy": -76.4, "error": null, "seconds": 3.1, "cycles": 12,
     "nao": 43, "attempt": "default", "dispersion": {"d4-1a2b3c4d": -0.0003}}

``energy`` is the SCF energy (Hartree), ``None`` with ``error`` set when every attempt failed;
dispersion energies sit beside it, one per parameter set (whose values the file's header
keeps), so switching dispersion on or off reuses the SCF. Because keys depend on content
only, a species that occurs in several subsets is computed once, and the file can be committed
and continued elsewhere. Saving merges with what is on disk under a file lock, so processes
that share a file keep each other's records.

Files written before the per-species keys (``{"MOLDESC|spin=S|charge=C": record}``, the
G2 benchmark's earlier format) are read and their keys converted.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: saves are still atomic, only concurrent writers are not serialised
    fcntl = None

from ase_nnxc.benchmarks.reactions import Species, parse_moldesc

#: Version written into the file header.
FORMAT = 2


def _migrate_key(old: str) -> str | None:
    # 'H 0 0 0|spin=1|charge=0' (symbols, Bohr) -> Species.key; None if it cannot be read.
    try:
        moldesc, *fields = old.split("|")
        values = dict(f.split("=") for f in fields)
        numbers, positions = parse_moldesc(moldesc)
        return Species(old, numbers, positions, int(values["charge"]), int(values["spin"])).key
    except (ValueError, KeyError):  # BenchmarkDataError is a ValueError
        return None


class EnergyCache:
    """The records of one method, persisted after every change.

    Parameters
    ----------
    path
        The JSON file (created on the first save).
    header
        What the method is (functional, engine, basis, grid, density fitting); written into
        the file so that a committed cache says what it holds.

    """

    def __init__(self, path: str | os.PathLike, header: dict | None = None):
        self.path = Path(path)
        self.header = dict(header or {})
        self.dispersion_parameters: dict[str, dict] = {}
        self.records: dict[str, dict] = {}
        self._changed: set[str] = set()
        self._merge(self._read())

    def _read(self) -> dict:
        if not self.path.is_file():
            return {}
        try:
            return json.loads(self.path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"{self.path}: not a readable energy cache ({err}); move it away to start afresh") from err

    def _merge(self, data: dict) -> None:
        if "species" not in data:  # the earlier format: records keyed by their moldesc
            data = {"species": {(_migrate_key(k) or k): v for k, v in data.items() if isinstance(v, dict)}}
        self.dispersion_parameters = {**data.get("dispersion_parameters", {}), **self.dispersion_parameters}
        for key, record in data.get("species", {}).items():
            if key not in self._changed:
                self.records[key] = record

    def get(self, species: Species) -> dict | None:
        """The record of ``species``, or ``None`` if it was never run."""
        return self.records.get(species.key)

    def put(self, species: Species, record: dict) -> None:
        """Store (or update) the record of ``species`` and save the file."""
        self.records[species.key] = {"name": species.name, **record}
        self._changed.add(species.key)
        self.save()

    def refresh(self) -> None:
        """Read the records other processes (the other ranks of a run) have saved meanwhile."""
        self._merge(self._read())

    def save(self) -> None:
        """Write the file atomically, keeping records another process added meanwhile.

        Reading, merging and writing happen under an exclusive lock on a sibling ``.lock``
        file, so processes that share a cache (ranks of one run, or two runs) lose nothing.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(f".{self.path.name}.lock"), "w") as lock:
            if fcntl is not None:
                fcntl.flock(lock, fcntl.LOCK_EX)
            self._merge(self._read())
            payload = {
                "format": FORMAT,
                "method": self.header,
                "dispersion_parameters": self.dispersion_parameters,
                "species": self.records,
            }
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(payload, indent=1, sort_keys=True))
            os.replace(tmp, self.path)

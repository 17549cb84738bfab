"""Accuracy benchmark: G2 atomisation energies, atomic ionisation energies and the H2 curve.

A :class:`Method` is either a functional run by ase_nnxc (any name the calculator accepts,
a checkpoint included) or a functional run by PySCF, the reference column. Each total energy
is computed once and cached in a JSON file per method, written after every system, so an
interrupted benchmark continues where it stopped.

Example::

    >>> from ase_nnxc.accuracy import Method, atomisation_errors
    >>> pbe = Method("pbe", engine="pyscf", basis="def2-svp")
    >>> errors = atomisation_errors(pbe, ["CH4", "H2O"], cache_dir="results/accuracy")  # doctest: +SKIP
    >>> {name: round(err, 1) for name, err in errors.items()}  # kcal/mol, prediction - experiment  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ase_nnxc.train import g2
from ase_nnxc.train.dataset import Entry, SystemSpec
from ase_nnxc.train.h2 import EXACT_BASIS, exact_energy, molecule_spec
from ase_nnxc.units import HARTREE_TO_EV, HARTREE_TO_KCAL_PER_MOL

KCAL_PER_HARTREE = HARTREE_TO_KCAL_PER_MOL

#: H2 bond lengths (Angstrom) of the dissociation curve.
H2_DISTANCES = tuple(np.round(np.arange(0.5, 3.01, 0.1), 2))
#: The stretch over which the H2 acceptance criterion is measured (Angstrom).
H2_WINDOW = (0.5, 1.5)
#: Basis of the FCI reference curve (near the basis-set limit for two electrons).
FCI_BASIS = EXACT_BASIS

_FUNCTIONALS: dict = {}


@dataclass(frozen=True)
class Method:
    """A functional, the code that runs it, its basis and grid.

    Parameters
    ----------
    xc
        For ``engine="nnxc"`` anything :func:`ase_nnxc.xc.registry.get_functional` accepts
        (a libxc name, a registered name such as ``nnxc``, a checkpoint path); for
        ``engine="pyscf"`` a PySCF/libxc name.
    engine
        ``"nnxc"`` or ``"pyscf"``.
    basis, grid_level
        Basis set (``None``: the functional's own default basis, else def2-SVP) and grid level.
    label
        Column name in tables and plots (default: ``xc``, with ``(PySCF)`` for PySCF).

    """

    xc: str
    engine: str = "nnxc"
    basis: str | None = None
    grid_level: int = 3
    label: str | None = None

    def __post_init__(self) -> None:
        if self.engine not in ("nnxc", "pyscf"):
            raise ValueError(f"engine must be 'nnxc' or 'pyscf', not {self.engine!r}")

    @property
    def name(self) -> str:
        """Display name."""
        if self.label:
            return self.label
        return f"{self.xc} (PySCF)" if self.engine == "pyscf" else self.xc

    def resolved_basis(self) -> str:
        """The basis actually used."""
        if self.basis:
            return self.basis
        if self.engine == "nnxc":
            return getattr(self.functional(), "default_basis", None) or "def2-svp"
        return "def2-svp"

    def functional(self):
        """The ase_nnxc functional (built once per method)."""
        from ase_nnxc.xc.registry import get_functional

        if self.engine != "nnxc":
            raise ValueError("only ase_nnxc methods have an ase_nnxc functional")
        if self.xc not in _FUNCTIONALS:
            _FUNCTIONALS[self.xc] = get_functional(self.xc)
        return _FUNCTIONALS[self.xc]

    def cache_name(self) -> str:
        """File name of this method's cache (a checkpoint's content hash is part of it)."""
        xc = self.xc
        checkpoint = getattr(self.functional(), "checkpoint_path", None) if self.engine == "nnxc" else None
        if checkpoint:  # retrained weights must never reuse old energies
            xc = f"{Path(checkpoint).stem}-{hashlib.sha256(Path(checkpoint).read_bytes()).hexdigest()[:12]}"
        slug = "".join(c if c.isalnum() or c in "-_." else "_" for c in xc.lower())
        return f"{self.engine}-{slug}-{self.resolved_basis().lower()}-g{self.grid_level}.json"


def _spec_key(spec: SystemSpec) -> str:
    return f"{' '.join(spec.moldesc.split())}|spin={spec.spin}|charge={spec.charge}"


class EnergyCache:
    """Total energies of one method, persisted after every new system.

    With ``compute=False`` only cached energies are returned (``None`` for the rest), so a
    table can be made from a run that is still going or was stopped.
    """

    def __init__(self, method: Method, cache_dir, compute: bool = True):
        self.method = method
        self.compute = compute
        self.path = Path(cache_dir) / method.cache_name()
        self.records: dict[str, dict] = json.loads(self.path.read_text()) if self.path.is_file() else {}

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.records, indent=1, sort_keys=True))
        os.replace(tmp, self.path)

    def energy(self, spec: SystemSpec) -> float | None:
        """Total energy (Hartree) of ``spec``, or ``None`` if its SCF failed (the reason is cached)."""
        key = _spec_key(spec)
        if key not in self.records and not self.compute:
            return None
        if key not in self.records:
            start = time.perf_counter()
            try:
                value, error = self._compute(spec), None
            except Exception as err:  # recorded, reported in the table, never a silent number
                value, error = None, f"{type(err).__name__}: {err}"
            self.records[key] = {"energy": value, "error": error, "seconds": round(time.perf_counter() - start, 2)}
            self._save()
        return self.records[key]["energy"]

    def error(self, spec: SystemSpec) -> str | None:
        """Why ``spec`` has no energy (``None`` if it has one or was not run)."""
        return self.records.get(_spec_key(spec), {}).get("error")

    def _compute(self, spec: SystemSpec) -> float:
        if spec.charge == 1 and spec.moldesc.split()[0] == "H" and len(spec.moldesc.split(";")) == 1:
            return 0.0  # a bare proton
        system = spec.to_system()
        if self.method.engine == "pyscf":
            return _pyscf_energy(system, self.method.xc, self.method.grid_level)
        from ase_nnxc.scf import KohnSham, SCFConfig, run_scf

        config = SCFConfig(grid_level=self.method.grid_level, require_aufbau=False, max_cycle=200)
        return float(run_scf(KohnSham(system, self.method.functional(), config)).energy)


def _pyscf_energy(system, xc: str, grid_level: int) -> float:
    from pyscf import dft

    mol = system.to_mole()
    mf = dft.RKS(mol) if mol.spin == 0 else dft.UKS(mol)
    mf.xc = xc
    mf.grids.level = grid_level
    mf.conv_tol = 1e-9
    mf.max_cycle = 200
    mf.verbose = 0
    energy = mf.kernel()
    if not mf.converged:  # second-order solver from where DIIS stopped
        mf = mf.newton()
        energy = mf.kernel(mf.make_rdm1())
        if not mf.converged:
            raise RuntimeError(f"PySCF {xc} SCF did not converge")
    return float(energy)


def reaction_value(cache: EnergyCache, entry: Entry) -> float | None:
    """Predicted ``sum_i c_i E_i`` of an energy entry (Hartree), ``None`` if a system failed."""
    total = 0.0
    for c, spec in zip(entry.coefficients(), entry.systems):
        energy = cache.energy(spec)
        if energy is None:
            return None
        total += c * energy
    return total


def entry_errors(
    method: Method, entries, cache_dir, progress: bool = True, compute: bool = True
) -> dict[str, float | None]:
    """``prediction - reference`` (kcal/mol) of each entry, by name; ``None`` where an SCF failed (or was not run)."""
    from tqdm.auto import tqdm

    cache = EnergyCache(method, cache_dir, compute)
    out = {}
    for entry in tqdm(entries, desc=method.name, disable=not progress, leave=False):
        value = reaction_value(cache, entry)
        out[entry.name] = None if value is None else (value - float(entry.true_val)) * KCAL_PER_HARTREE
    return out


def atomisation_errors(
    method: Method, names, cache_dir, progress: bool = True, compute: bool = True
) -> dict[str, float | None]:
    """Atomisation-energy errors (kcal/mol) of G2 molecules, keyed by molecule name."""
    entries = g2.atomisation_entries(names, method.resolved_basis())
    errors = entry_errors(method, entries, cache_dir, progress, compute)
    return {name: errors[f"AE {name}"] for name in names}


def ionisation_errors(
    method: Method, symbols, cache_dir, progress: bool = True, compute: bool = True
) -> dict[str, float | None]:
    """Ionisation-energy errors (kcal/mol) of atoms; H's IP is ``-E(H)``."""
    basis = method.resolved_basis()
    entries = [
        Entry(
            "ie",
            g2.IONISATION_ENERGIES_EV[s] / HARTREE_TO_EV,
            (g2.atom_spec(s, basis), g2.atom_spec(s, basis, charge=1)),
            name=s,
        )
        for s in symbols
    ]
    return entry_errors(method, entries, cache_dir, progress, compute)


def h2_curve(method: Method, cache_dir, distances=H2_DISTANCES, compute: bool = True) -> np.ndarray:
    """Binding curve ``E(H2, R) - 2 E(H)`` (kcal/mol) at ``distances`` (Angstrom)."""
    cache = EnergyCache(method, cache_dir, compute)
    basis = method.resolved_basis()
    hydrogen = cache.energy(g2.atom_spec("H", basis))
    curve = []
    for r in distances:
        energy = cache.energy(molecule_spec(r, basis))
        curve.append(np.nan if energy is None or hydrogen is None else (energy - 2 * hydrogen) * KCAL_PER_HARTREE)
    return np.array(curve)


def fci_h2_curve(cache_dir, distances=H2_DISTANCES, basis: str = FCI_BASIS) -> np.ndarray:
    """FCI binding curve of H2 (kcal/mol), cached like the functionals' energies."""
    path = Path(cache_dir) / f"fci-{basis}.json"
    records = json.loads(path.read_text()) if path.is_file() else {}
    wanted = {"H": None, **{f"{r:.4f}": float(r) for r in distances}}
    missing = {key: distance for key, distance in wanted.items() if key not in records}
    if missing:
        records.update({key: exact_energy(distance, basis) for key, distance in missing.items()})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(records, indent=1))
    return np.array([(records[f"{r:.4f}"] - 2 * records["H"]) * KCAL_PER_HARTREE for r in distances])


def mean_absolute(errors) -> tuple[float, int]:
    """MAE over the values that exist, and how many failed (``None``)."""
    values = [abs(v) for v in errors if v is not None]
    return (float(np.mean(values)) if values else float("nan")), sum(v is None for v in errors)

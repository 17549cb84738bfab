"""Density-matrix and density labels from PySCF CCSD, cached on disk.

A label is the all-electron CCSD one-particle density matrix in the AO basis of the
system's basis set, ``(nao, nao)``, the alpha + beta sum: the quantity that
:meth:`ase_nnxc.train.predict.Predictor.predict` returns for ``dm`` entries (PySCF's
spherical AO order, as :meth:`ase_nnxc.system.MolecularSystem.to_mole` builds it), so
``Tr(D S)`` is the electron count. It is the unrelaxed (expectation-value) density of
PySCF's ``make_rdm1``, with the Lambda equations solved and the orbitals not relaxed, on
top of RHF (closed shells, ``cc.CCSD``) or UHF (open shells, ``cc.UCCSD``; the UHF is
checked for internal instabilities first). ``dens`` entries carry the same matrix: the
predictor maps it onto its own grid, so the label holds for any grid level.

* :func:`ccsd_density_matrix`: one label, computed once and then read from
  ``CACHE_DIR/ccsd-<hash>.npy``, the hash taken over (moldesc, basis, spin, charge, method).
* :func:`density_entries` and :func:`write_density_dataset`: ``dm``/``dens`` entries, written
  as DeepChem YAML whose ``true_val`` is the path of a ``.npy`` file next to it.
* ``python -m ase_nnxc.train.labels OUT.yaml --molecules H2 LiH H2O --basis def2-svp``:
  the same for G2 molecules at ASE's geometries. Under ``torchrun`` the systems missing from
  the cache are shared out dynamically over the ranks, largest first; the cache is the one
  shared result store, so an interrupted run continues where it stopped.

CCSD scales as ``nao^6``; systems with more than :data:`MAX_BASIS_FUNCTIONS` basis functions
are refused rather than left running for hours.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ase_nnxc import parallel
from ase_nnxc.train.dataset import Entry, SystemSpec, save_dataset

#: Label method, part of every cache key.
METHOD = "ccsd-unrelaxed-rdm1"
#: Largest basis (number of AO functions) :func:`ccsd_density_matrix` accepts by default.
MAX_BASIS_FUNCTIONS = 150
#: Convergence of the SCF and of the CCSD amplitude and Lambda equations.
SCF_CONV_TOL = 1e-11
CCSD_CONV_TOL = 1e-10
CCSD_CONV_TOL_NORMT = 1e-8


def cache_path(spec: SystemSpec, cache_dir, method: str = METHOD) -> Path:
    """``CACHE_DIR/ccsd-<hash>.npy`` for ``spec`` (whitespace in moldesc and basis case do not matter)."""
    _, basis, spin, charge = spec.key
    moldesc = "; ".join(" ".join(atom.split()) for atom in spec.moldesc.split(";") if atom.strip())
    text = json.dumps({"moldesc": moldesc, "basis": basis, "spin": spin, "charge": charge, "method": method})
    return Path(cache_dir) / f"ccsd-{hashlib.sha256(text.encode()).hexdigest()[:24]}.npy"


def ccsd_density_matrix(spec: SystemSpec, cache_dir, max_basis_functions: int = MAX_BASIS_FUNCTIONS) -> np.ndarray:
    """Total (alpha + beta) CCSD density matrix of ``spec`` in its AO basis, ``(nao, nao)``.

    Read from ``cache_dir`` when it was computed before, else computed and written there.

    Raises
    ------
    ValueError
        For a basis larger than ``max_basis_functions`` functions (naming the system).
    RuntimeError
        When the Hartree-Fock or the CCSD equations do not converge (naming the system).

    """
    mol = spec.to_system().to_mole()
    nao = mol.nao_nr()
    path = cache_path(spec, cache_dir)
    if path.exists():
        try:
            cached = np.load(path)
        except (OSError, ValueError):
            cached = None  # a truncated file: compute again
        if cached is not None and cached.shape == (nao, nao):
            return cached
    _check_size(spec, nao, max_basis_functions)
    density = _ccsd_ao_density(mol, _describe(spec))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npy")
    np.save(partial, density)
    os.replace(partial, path)  # atomic: a concurrent reader sees the old file or the whole new one
    return density


def stable_hartree_fock(mol, conv_tol: float, failure: str, max_cycle: int = 50):
    """Converged Hartree-Fock of a PySCF ``mol``: RHF for closed shells, UHF for open ones.

    UHF starts from the ``atom`` guess and follows internal instabilities to a stable solution.
    Raises ``RuntimeError(failure)`` when it does not converge.
    """
    from pyscf import scf

    mf = (scf.RHF if mol.spin == 0 else scf.UHF)(mol)
    mf.conv_tol = conv_tol
    mf.max_cycle = max_cycle
    if mol.spin:
        mf.init_guess = "atom"
    mf.kernel()
    if mol.spin:
        for _ in range(3):
            mo, _, stable, _ = mf.stability(return_status=True)
            if stable:
                break
            mf.kernel(mf.make_rdm1(mo, mf.mo_occ))
    if not mf.converged:
        raise RuntimeError(failure)
    return mf


def _ccsd_ao_density(mol, name: str) -> np.ndarray:
    """Converge HF and CCSD for ``mol`` and return ``sum_s C_s D_s^MO C_s^T``, ``(nao, nao)``."""
    from pyscf import cc

    mf = stable_hartree_fock(mol, SCF_CONV_TOL, f"{name}: Hartree-Fock did not converge; no CCSD label")
    solver = cc.CCSD(mf) if mol.spin == 0 else cc.UCCSD(mf)
    solver.conv_tol = CCSD_CONV_TOL
    solver.conv_tol_normt = CCSD_CONV_TOL_NORMT
    solver.kernel()
    if not solver.converged:
        raise RuntimeError(f"{name}: the CCSD amplitude equations did not converge")
    solver.solve_lambda()
    if not solver.converged_lambda:
        raise RuntimeError(f"{name}: the CCSD Lambda equations did not converge")
    rdm1 = solver.make_rdm1()
    if mol.spin == 0:
        return mf.mo_coeff @ rdm1 @ mf.mo_coeff.T
    return sum(c @ d @ c.T for c, d in zip(mf.mo_coeff, rdm1))


def _check_size(spec: SystemSpec, nao: int, max_basis_functions: int) -> None:
    if nao > max_basis_functions:
        raise ValueError(
            f"{_describe(spec)} has {nao} basis functions; CCSD labels are limited to "
            f"{max_basis_functions} (raise max_basis_functions to go further, at nao^6 cost)"
        )


def _formula(spec: SystemSpec) -> str:
    from ase.formula import Formula

    return Formula.from_list(spec.to_system().symbols).format("hill")


def _describe(spec: SystemSpec) -> str:
    return f"system {_formula(spec)} {spec.moldesc!r} (basis {spec.basis}, spin {spec.spin}, charge {spec.charge})"


def density_entries(
    specs: Sequence[SystemSpec],
    cache_dir,
    kind: str = "dm",
    names: Sequence[str] | None = None,
    progress: bool = False,
    max_basis_functions: int = MAX_BASIS_FUNCTIONS,
) -> list[Entry]:
    """One ``dm`` or ``dens`` entry per system, labelled with its CCSD density matrix.

    ``names`` label the entries (default: the chemical formula). Every system is checked
    against ``max_basis_functions`` before the first CCSD runs. The uncached systems are
    computed by the ranks of a job in turn (:func:`ase_nnxc.parallel.map_dynamic`); every
    rank returns all entries.

    Raises
    ------
    ValueError
        For an unknown ``kind`` or an uncached system that is too large (naming it).

    """
    if kind not in ("dm", "dens"):
        raise ValueError(f"kind must be 'dm' or 'dens', got {kind!r}")
    if names is not None and len(names) != len(specs):
        raise ValueError(f"{len(names)} names for {len(specs)} systems")
    for spec in specs:
        if not cache_path(spec, cache_dir).exists():
            _check_size(spec, spec.to_system().to_mole().nao_nr(), max_basis_functions)
    missing = parallel.broadcast([i for i, spec in enumerate(specs) if not cache_path(spec, cache_dir).exists()])
    costs = [float(specs[i].to_system().to_mole().nao_nr()) ** 6 for i in missing]  # CCSD: nao^6
    parallel.map_dynamic(
        lambda i: ccsd_density_matrix(specs[i], cache_dir, max_basis_functions) is None,
        missing,
        costs,
        desc=f"CCSD {kind} labels" if progress else None,
    )
    entries = []
    for i, spec in enumerate(specs):
        name = names[i] if names is not None else _formula(spec)
        density = ccsd_density_matrix(spec, cache_dir, max_basis_functions)  # from the cache now
        entries.append(Entry(kind, density, (spec,), name=f"{kind.upper()} {name}"))
    return entries


def write_density_dataset(
    path,
    specs: Sequence[SystemSpec],
    cache_dir,
    kind: str = "dm",
    names: Sequence[str] | None = None,
    progress: bool = False,
    max_basis_functions: int = MAX_BASIS_FUNCTIONS,
) -> list[Entry]:
    """Write :func:`density_entries` as DeepChem YAML at ``path``, each label a ``.npy`` beside it (rank 0)."""
    entries = density_entries(specs, cache_dir, kind, names, progress, max_basis_functions)
    if parallel.world().is_root:
        save_dataset(entries, path)
    return entries


def main(argv=None) -> None:
    """``python -m ase_nnxc.train.labels OUT.yaml --molecules H2 LiH H2O``: CCSD density labels of G2 molecules."""
    import argparse

    from ase_nnxc.train.g2 import molecule_spec

    parser = argparse.ArgumentParser(prog="python -m ase_nnxc.train.labels", description=main.__doc__)
    parser.add_argument("out", help="dataset to write (the .npy labels go beside it)")
    parser.add_argument("--molecules", nargs="+", required=True, help="G2 names as ase.build.molecule knows them")
    parser.add_argument("--basis", default="def2-svp")
    parser.add_argument("--kind", choices=("dm", "dens"), default="dm")
    parser.add_argument("--cache-dir", help="CCSD cache (default: ccsd-cache beside OUT)")
    parser.add_argument("--max-basis-functions", type=int, default=MAX_BASIS_FUNCTIONS)
    args = parser.parse_args(argv)
    try:
        specs = [molecule_spec(name, args.basis) for name in args.molecules]
    except KeyError as err:
        parser.error(f"unknown molecule {err}; use G2 names such as H2, LiH, H2O, CH4")
    cache_dir = args.cache_dir or Path(args.out).parent / "ccsd-cache"
    world = parallel.init()
    try:
        entries = write_density_dataset(
            args.out, specs, cache_dir, args.kind, args.molecules, True, args.max_basis_functions
        )
    except (ValueError, RuntimeError) as err:
        parser.exit(1, f"error: {err}\n" if world.is_root else "")
    finally:
        parallel.finalize()
    if world.is_root:
        print(f"wrote {len(entries)} {args.kind} entries to {args.out} (CCSD cache: {cache_dir})")


if __name__ == "__main__":
    main()

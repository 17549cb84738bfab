"""Exact energies of H2 and H near the basis-set limit, and H2 binding-curve training entries.

With two electrons CCSD is FCI, and with one electron UHF is exact, so PySCF gives the exact
non-relativistic Born-Oppenheimer energies in a given basis at little cost; aug-cc-pVQZ
puts the equilibrium binding energy 0.3 kcal/mol below the exact 109.49 kcal/mol.

* :func:`exact_energy`: the FCI energy of H2 at a bond length (or of the H atom).
* :func:`molecule_spec`: H2 at a bond length, as a system of a dataset or benchmark.
* :func:`binding_curve_entries`: ``ae`` entries ``2 E(H) - E(H2, R)`` labelled with those
  energies, for training a functional on the H2 curve (H2 has no non-hydrogen atom, so these
  lie inside the structural split of :mod:`ase_nnxc.train.g2`).

Example::

    >>> entries = binding_curve_entries([0.55, 1.45], basis="def2-svp")  # doctest: +SKIP
    >>> round(entries[0].true_val * 627.5095, 1)  # doctest: +SKIP
    85.0
"""

from __future__ import annotations

from ase_nnxc.train.dataset import Entry, SystemSpec
from ase_nnxc.units import ANGSTROM_TO_BOHR

#: Basis of the exact labels (near the basis-set limit for two electrons).
EXACT_BASIS = "aug-cc-pvqz"
#: Bond lengths (Angstrom) of the H2 points in the shipped functionals' training data.
TRAINING_DISTANCES = (0.5, 0.75, 1.0, 1.25, 1.5)


def exact_energy(distance: float | None, basis: str = EXACT_BASIS) -> float:
    """FCI energy (Hartree) of H2 at bond length ``distance`` (Angstrom), or of H if ``None``."""
    from pyscf import cc, gto, scf

    if distance is None:
        mol = gto.M(atom="H 0 0 0", basis=basis, spin=1, verbose=0)
        return float(scf.UHF(mol).run(conv_tol=1e-11).e_tot)
    if distance <= 0:
        raise ValueError(f"bond length must be positive, got {distance}")
    mol = gto.M(atom=f"H 0 0 0; H 0 0 {distance}", basis=basis, unit="Angstrom", verbose=0)
    return float(cc.CCSD(scf.RHF(mol).run(conv_tol=1e-11)).run(conv_tol=1e-10).e_tot)


def molecule_spec(distance: float, basis: str) -> SystemSpec:
    """H2 along z at bond length ``distance`` (Angstrom) in ``basis``."""
    return SystemSpec(f"H 0 0 0; H 0 0 {distance * ANGSTROM_TO_BOHR:.10f}", basis)


def binding_curve_entries(distances, basis: str = "def2-svp", label_basis: str = EXACT_BASIS) -> list[Entry]:
    """``ae`` entries of H2 at ``distances`` (Angstrom) in ``basis``, with exact labels from ``label_basis``."""
    hydrogen = exact_energy(None, label_basis)
    # Two free H atoms (doublets); written out rather than taken from ase_nnxc.train.g2, whose
    # dataset writer imports this module.
    atoms = SystemSpec("H 0 0 0", basis, spin=1, number=2)
    entries = []
    for r in distances:
        label = 2 * hydrogen - exact_energy(r, label_basis)
        entries.append(Entry("ae", label, (molecule_spec(r, basis), atoms), name=f"AE H2 {r:.2f} A"))
    return entries

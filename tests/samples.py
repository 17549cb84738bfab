"""Molecules shared by the tests (ASE's G2 geometries) and how to build them.

References are never stored here: every test computes its PySCF reference in the same run.
"""

from __future__ import annotations

from pathlib import Path

from ase import Atoms
from ase.build import molecule
from ase.io import read

from ase_nnxc.system import MolecularSystem

CLOSED_SHELL = ("H2O", "NH3", "CH4", "C2H4", "HCN")
OPEN_SHELL = ("O", "N", "CH3", "NO", "OH")
#: Unpaired electrons of the open-shell species (ground states).
SPINS = {"O": 2, "N": 3, "CH3": 1, "NO": 1, "OH": 1}


def atoms(name: str) -> Atoms:
    """ASE atoms of a G2 molecule or a single atom, with its ground-state moments."""
    if name in ("O", "N"):
        return Atoms(name, positions=[(0.0, 0.0, 0.0)])
    return molecule(name)


def system(name: str, basis: str = "def2-svp") -> MolecularSystem:
    """The :class:`MolecularSystem` of ``name`` in ``basis``."""
    return MolecularSystem.from_atoms(atoms(name), basis=basis, charge=0, spin=SPINS.get(name, 0))


#: Copies of a few GMTKN55 species (official layout) with elements beyond Kr.
GMTKN55 = Path(__file__).parent / "data" / "gmtkn55"


def gmtkn55_system(species: str, basis: str = "def2-tzvp", charge: int = 0, spin: int = 0) -> MolecularSystem:
    """A GMTKN55 species (``"HEAVY28/hi"``) from its ``struc.xyz``, ``.CHRG`` and ``.UHF``.

    ``charge`` and ``spin`` are added to the files' values (``charge=1, spin=1`` gives the
    cation of a closed-shell species).
    """
    folder = GMTKN55 / species
    extra = {name: int((folder / name).read_text()) if (folder / name).exists() else 0 for name in (".CHRG", ".UHF")}
    return MolecularSystem.from_atoms(
        read(folder / "struc.xyz"), basis=basis, charge=extra[".CHRG"] + charge, spin=extra[".UHF"] + spin
    )


def directional_gradient_error(module, loss, step: float, seed: int = 5) -> float:
    """Relative error of ``d loss/d theta`` along a random unit direction against central differences.

    ``loss`` is a zero-argument callable evaluated at ``module``'s current trainable parameters
    (each evaluation may run converged SCFs); the parameters are restored afterwards.
    """
    import torch

    params = [p for p in module.parameters() if p.requires_grad]
    module.zero_grad()
    loss().backward()
    grad = torch.cat([p.grad.reshape(-1) for p in params])
    direction = torch.randn(grad.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    direction /= direction.norm()

    def shift(amount: float) -> None:
        offset = 0
        for p in params:
            p += amount * direction[offset : offset + p.numel()].reshape(p.shape)
            offset += p.numel()

    values = []
    for sign in (1.0, -1.0):
        with torch.no_grad():
            shift(sign * step)
            values.append(float(loss()))
            shift(-sign * step)
    numeric = (values[0] - values[1]) / (2 * step)
    return abs(float((grad * direction).sum()) - numeric) / abs(numeric)


def pyscf_broken_symmetry(mol, xc: str):
    """PySCF's UKS solution of a closed shell from its own RKS orbitals with HOMO and LUMO mixed.

    Returns the converged ``(rks, uks)`` objects; the reference for ``break_symmetry``.
    """
    import numpy as np
    from pyscf import dft

    rks = dft.RKS(mol, xc=xc).run(conv_tol=1e-11)
    occupied = mol.nelectron // 2
    homo, lumo = rks.mo_coeff[:, occupied - 1], rks.mo_coeff[:, occupied]
    below = rks.mo_coeff[:, : occupied - 1]
    spins = [np.column_stack([below, (homo + sign * lumo) / np.sqrt(2)]) for sign in (1, -1)]
    uks = dft.UKS(mol, xc=xc)
    uks.conv_tol = 1e-11
    uks.kernel(np.array([c @ c.T for c in spins]))
    return rks, uks

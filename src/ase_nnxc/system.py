"""A molecule as the Kohn-Sham core sees it: nuclei in Bohr, charge, spin and basis.

:class:`MolecularSystem` validates its input once, so that every later stage can trust
it, and builds the PySCF ``Mole`` that supplies integrals, basis sets and grids.

A basis set that comes with effective core potentials (def2 for Rb-Rn, LANL2DZ,
cc-pVXZ-PP, ...) brings them along: the electrons an ECP replaces are not counted, and
the ``Mole`` carries the ECP, its effective nuclear charges and its integrals.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import torch
from ase.data import atomic_numbers, chemical_symbols

from ase_nnxc.units import ANGSTROM_TO_BOHR, BOHR_TO_ANGSTROM

#: Two nuclei closer than this (in Angstrom) are taken as an input error.
MIN_DISTANCE_ANGSTROM = 0.1
#: Heaviest element handled (Rn, the last one def2 basis sets and their ECPs cover).
MAX_ATOMIC_NUMBER = 86


@cache
def ecp_core_electrons(basis: str, symbol: str) -> int:
    """Electrons replaced by the effective core potential that ``basis`` defines for ``symbol``.

    0 when PySCF's library holds no ECP of that name for the element (all-electron: def2 bases
    up to Kr, Pople and Dunning sets, ANO-RCC, ...). PySCF does not attach a basis set's ECP
    by itself; :meth:`MolecularSystem.to_mole` does, for the elements where this is non-zero.
    """
    from pyscf import gto

    with warnings.catch_warnings():
        # An unknown name makes PySCF suggest basis-set-exchange; the basis check reports it.
        warnings.simplefilter("ignore")
        try:
            ecp = gto.basis.load_ecp(basis, symbol)
        except (KeyError, RuntimeError, ValueError, OSError, gto.basis.BasisNotFoundError):
            return 0
    return int(ecp[0]) if ecp else 0


@dataclass(frozen=True)
class MolecularSystem:
    """A finite molecule in atomic units.

    Parameters
    ----------
    numbers
        Atomic numbers, shape ``(natom,)``.
    positions
        Nuclear positions in Bohr, shape ``(natom, 3)``.
    basis
        Any basis set name PySCF knows (``"def2-svp"``, ``"cc-pvdz"``, ``"6-31g*"``, ...).
    charge
        Net charge in units of the elementary charge.
    spin
        ``2S = N_alpha - N_beta``.

    """

    numbers: tuple[int, ...]
    """Atomic numbers, one per atom."""
    positions: np.ndarray = field(repr=False)
    """Nuclear positions in Bohr, shape ``(natom, 3)``."""
    basis: str = "def2-svp"
    """Basis set name as PySCF spells it."""
    charge: int = 0
    """Net charge."""
    spin: int = 0
    """Number of unpaired electrons, ``N_alpha - N_beta``."""

    def __post_init__(self) -> None:
        numbers = tuple(int(z) for z in self.numbers)
        object.__setattr__(self, "numbers", numbers)
        positions = np.array(self.positions, dtype=np.float64).reshape(-1, 3)
        positions.setflags(write=False)
        object.__setattr__(self, "positions", positions)
        if len(numbers) == 0:
            raise ValueError("The molecule is empty: at least one atom is needed.")
        if len(numbers) != positions.shape[0]:
            raise ValueError(
                f"{len(numbers)} atomic numbers but {positions.shape[0]} positions were given."
            )
        for z in numbers:
            if not 1 <= z < len(chemical_symbols):
                raise ValueError(f"Unknown element with atomic number {z}.")
            if z > MAX_ATOMIC_NUMBER:
                raise ValueError(
                    f"Element {chemical_symbols[z]} (Z={z}) is not supported: elements beyond Rn "
                    "(Z=86) are out of scope."
                )
        if not np.all(np.isfinite(positions)):
            raise ValueError("Atomic positions contain NaN or infinity.")
        if int(self.charge) != self.charge or int(self.spin) != self.spin:
            raise ValueError(f"Charge ({self.charge}) and spin ({self.spin}) must be integers.")
        object.__setattr__(self, "charge", int(self.charge))
        object.__setattr__(self, "spin", int(self.spin))
        if not isinstance(self.basis, str) or not self.basis.strip():
            raise ValueError(f"The basis must be a non-empty name, not {self.basis!r}.")
        self._check_distances()
        self._check_electrons()

    def _check_distances(self) -> None:
        if self.natom < 2:
            return
        diff = self.positions[:, None, :] - self.positions[None, :, :]
        dist = np.sqrt((diff**2).sum(-1)) * BOHR_TO_ANGSTROM
        np.fill_diagonal(dist, np.inf)
        i, j = np.unravel_index(np.argmin(dist), dist.shape)
        if dist[i, j] < MIN_DISTANCE_ANGSTROM:
            raise ValueError(
                f"Atoms {min(i, j)} ({self.symbols[min(i, j)]}) and {max(i, j)} "
                f"({self.symbols[max(i, j)]}) are {dist[i, j]:.4f} Angstrom apart; "
                f"nuclei closer than {MIN_DISTANCE_ANGSTROM} Angstrom are not physical."
            )

    def _check_electrons(self) -> None:
        nelec, core = self.nelectron, sum(self.core_electrons)
        counted = f"{nelec} electrons"
        if core:
            counted += f" (besides the {core} that the {self.basis} ECPs replace)"
        if nelec <= 0:
            raise ValueError(f"Charge {self.charge} leaves {counted}; at least one is needed.")
        if self.spin < 0 or self.spin > nelec or (nelec - self.spin) % 2:
            raise ValueError(
                f"{counted} are inconsistent with spin 2S = {self.spin}: "
                "N_alpha - N_beta must have the parity of the electron count and lie in [0, N]."
            )

    @classmethod
    def from_atoms(
        cls, atoms, basis: str = "def2-svp", charge: int | None = None, spin: int | None = None
    ) -> MolecularSystem:
        """Build a system from ASE ``Atoms`` (positions in Angstrom).

        Charge and spin default to the sums of the atoms' initial charges and magnetic moments.
        Periodic atoms are rejected: the core handles finite molecules only.
        """
        if len(atoms) == 0:
            raise ValueError("The molecule is empty: at least one atom is needed.")
        if np.any(atoms.pbc):
            raise ValueError(
                f"Periodic boundary conditions (pbc={atoms.pbc.tolist()}) are not supported; "
                "ase_nnxc handles finite molecules (set atoms.pbc = False)."
            )
        if charge is None:
            charge = atoms.get_initial_charges().sum()
            if abs(charge - round(charge)) > 1e-8:
                raise ValueError(f"The initial charges sum to {charge}, which is not an integer.")
            charge = round(charge)
        if spin is None:
            moment = atoms.get_initial_magnetic_moments().sum()
            if abs(moment - round(moment)) > 1e-8:
                raise ValueError(f"The initial magnetic moments sum to {moment}, not an integer.")
            spin = abs(round(moment))
        return cls(
            numbers=tuple(atoms.numbers),
            positions=atoms.positions * ANGSTROM_TO_BOHR,
            basis=basis,
            charge=charge,
            spin=spin,
        )

    @classmethod
    def from_symbols(
        cls, symbols: list[str], positions_bohr, basis: str = "def2-svp", charge: int = 0, spin: int = 0
    ) -> MolecularSystem:
        """Build a system from element symbols and positions in Bohr."""
        unknown = [s for s in symbols if s not in atomic_numbers]
        if unknown:
            raise ValueError(f"Unknown element symbol(s): {', '.join(unknown)}.")
        return cls(tuple(atomic_numbers[s] for s in symbols), positions_bohr, basis, charge, spin)

    @property
    def natom(self) -> int:
        """Number of atoms."""
        return len(self.numbers)

    @property
    def symbols(self) -> list[str]:
        """Element symbols."""
        return [chemical_symbols[z] for z in self.numbers]

    @property
    def core_electrons(self) -> tuple[int, ...]:
        """Electrons each atom's effective core potential replaces (0 without one), ``(natom,)``."""
        return tuple(ecp_core_electrons(self.basis, s) for s in self.symbols)

    @property
    def nelectron(self) -> int:
        """Number of electrons treated explicitly: all of them less those the ECPs replace."""
        return sum(self.numbers) - sum(self.core_electrons) - self.charge

    @property
    def nalpha_nbeta(self) -> tuple[int, int]:
        """Numbers of alpha and beta electrons."""
        nbeta = (self.nelectron - self.spin) // 2
        return nbeta + self.spin, nbeta

    def positions_tensor(self, requires_grad: bool = False) -> torch.Tensor:
        """Positions as a float64 tensor in Bohr, shape ``(natom, 3)``."""
        return torch.tensor(self.positions, dtype=torch.float64, requires_grad=requires_grad)

    def with_positions(self, positions_bohr) -> MolecularSystem:
        """A copy with new positions (Bohr) and everything else unchanged."""
        return MolecularSystem(self.numbers, positions_bohr, self.basis, self.charge, self.spin)

    def to_mole(self):
        """The PySCF ``Mole`` of this system (Bohr, spherical basis functions, no symmetry).

        The basis set's own ECPs are attached for the elements that have one
        (:attr:`core_electrons`), so ``mol.atom_charges()`` are the effective charges
        ``Z - n_core`` and ``mol.nelectron`` equals :attr:`nelectron`.

        Raises
        ------
        ValueError
            When the basis set has no functions for an element.

        """
        from pyscf import gto

        mol = gto.Mole()
        mol.atom = [(s, tuple(p)) for s, p in zip(self.symbols, self.positions)]
        mol.unit = "Bohr"
        mol.basis = self.basis
        mol.ecp = {s: self.basis for s, n in zip(self.symbols, self.core_electrons) if n}
        mol.charge = self.charge
        mol.spin = self.spin
        mol.verbose = 0
        mol.cart = False
        try:
            mol.build(dump_input=False, parse_arg=False)
        except (KeyError, RuntimeError, ValueError, OSError, gto.basis.BasisNotFoundError) as err:
            raise ValueError(
                f"Basis {self.basis!r} could not be built for {'/'.join(sorted(set(self.symbols)))}: {err}"
            ) from err
        atoms_with_functions = {mol.bas_atom(b) for b in range(mol.nbas)}
        missing = sorted({mol.atom_symbol(i) for i in range(mol.natm) if i not in atoms_with_functions})
        if missing:
            raise ValueError(f"Basis {self.basis!r} has no functions for element(s) {', '.join(missing)}.")
        if mol.nelectron != self.nelectron:  # pragma: no cover - both counts come from PySCF's ECP library
            raise ValueError(
                f"Basis {self.basis!r}: PySCF's ECPs leave {mol.nelectron} electrons, not {self.nelectron}."
            )
        return mol

"""Datasets built from ASE's experimental G2 data (``ase.data.g2_1``): nothing is downloaded.

* :func:`ionisation_entries`: first ionisation energies of atoms (``ie`` entries,
  cation minus neutral), from the experimental values ASE ships (eV, converted to Hartree).
* :func:`atomisation_entries`: atomisation energies of G2-1 molecules
  (``ase.data.g2_1.get_atomization_energy``, experimental, zero-point removed).
"""

from __future__ import annotations

from ase.data import atomic_numbers
from ase.data.g2_1 import data as g2_1_data
from ase.data.g2_1 import get_atomization_energy

from ase_nnxc.train.dataset import Entry, SystemSpec
from ase_nnxc.units import ANGSTROM_TO_BOHR, HARTREE_TO_EV

#: Ground-state spins (N_alpha - N_beta) of neutral atoms H-Ar.
ATOM_SPINS = {
    "H": 1, "He": 0, "Li": 1, "Be": 0, "B": 1, "C": 2, "N": 3, "O": 2, "F": 1, "Ne": 0,
    "Na": 1, "Mg": 0, "Al": 1, "Si": 2, "P": 3, "S": 2, "Cl": 1, "Ar": 0,
}  # fmt: skip


def _cation_spin(symbol: str) -> int:
    """Ground-state spin of the singly charged cation (Hund's rule on the outer shell)."""
    z = atomic_numbers[symbol] - 1
    return ATOM_SPINS[[s for s, n in atomic_numbers.items() if n == z][0]] if z > 0 else 0


def ionisation_entries(symbols, basis: str = "def2-svp") -> list[Entry]:
    """Experimental first ionisation energies of the given atoms (those ASE has).

    Raises
    ------
    ValueError
        For an atom without an experimental value in ``ase.data.g2_1`` or without electrons
        after ionisation (H).

    """
    entries = []
    for symbol in symbols:
        value = g2_1_data.get(symbol, {}).get("ionization energy")
        if value is None:
            raise ValueError(f"ASE's G2-1 data has no ionisation energy for {symbol}.")
        if symbol == "H":
            raise ValueError("H+ has no electrons; leave H out of ionisation-energy sets.")
        neutral = SystemSpec(f"{symbol} 0 0 0", basis, spin=ATOM_SPINS[symbol])
        cation = SystemSpec(f"{symbol} 0 0 0", basis, spin=_cation_spin(symbol), charge=1)
        entries.append(Entry("ie", value / HARTREE_TO_EV, (neutral, cation), name=f"IP {symbol}"))
    return entries


def atomisation_entries(names, basis: str = "def2-svp") -> list[Entry]:
    """Experimental atomisation energies of G2-1 molecules (molecule first, then its atoms)."""
    from ase.build import molecule

    entries = []
    for name in names:
        atoms = molecule(name)
        moldesc = "; ".join(f"{s} {x:.8f} {y:.8f} {z:.8f}" for s, (x, y, z) in zip(atoms.get_chemical_symbols(), atoms.positions * ANGSTROM_TO_BOHR))
        spin = int(round(abs(atoms.get_initial_magnetic_moments().sum())))
        systems = [SystemSpec(moldesc, basis, spin=spin)]
        counts: dict[str, int] = {}
        for symbol in atoms.get_chemical_symbols():
            counts[symbol] = counts.get(symbol, 0) + 1
        systems += [SystemSpec(f"{s} 0 0 0", basis, spin=ATOM_SPINS[s], number=n) for s, n in counts.items()]
        entries.append(Entry("ae", get_atomization_energy(name) / HARTREE_TO_EV, tuple(systems), name=f"AE {name}"))
    return entries

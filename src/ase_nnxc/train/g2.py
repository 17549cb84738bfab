"""Reference data built from ASE's experimental G2 sets and published atomic values.

Nothing is downloaded: ASE ships the G2-1 and G2-2 geometries with experimental enthalpies of
formation, zero-point energies and thermal corrections, and the ionisation energies of the
atoms H-Ar are the NIST values below (with a few beyond Ar, :data:`EXTRA_IONISATIONS`).

* :func:`atomisation_energy`: the experimental, zero-point-free atomisation energy of a
  G2-1 or G2-2 molecule (ASE's ``g2_1.get_atomization_energy`` formula, applied to both sets).
* :func:`atomisation_entries`, :func:`ionisation_entries` and :func:`extra_ionisation_entries`:
  training/evaluation entries.
* :data:`TRAINING_MOLECULES` and :data:`TEST_MOLECULES`: the structural split (at most two
  non-hydrogen atoms may be trained on; every other G2 molecule is a test molecule).
"""

from __future__ import annotations

from collections.abc import Sequence

from ase.data import atomic_numbers, chemical_symbols, g2_1, g2_2

from ase_nnxc.train.dataset import Entry, SystemSpec, save_dataset
from ase_nnxc.train.h2 import TRAINING_DISTANCES, binding_curve_entries
from ase_nnxc.units import ANGSTROM_TO_BOHR, HARTREE_TO_CM1, HARTREE_TO_EV, HARTREE_TO_KCAL_PER_MOL

#: Ground-state spins (N_alpha - N_beta) of neutral atoms H-Ar.
ATOM_SPINS = {
    "H": 1, "He": 0, "Li": 1, "Be": 0, "B": 1, "C": 2, "N": 3, "O": 2, "F": 1, "Ne": 0,
    "Na": 1, "Mg": 0, "Al": 1, "Si": 2, "P": 3, "S": 2, "Cl": 1, "Ar": 0,
}  # fmt: skip

#: First ionisation energies (eV) of the atoms H-Ar, NIST Atomic Spectra Database
#: (Kramida, Ralchenko, Reader and NIST ASD Team, ver. 5.11, ground-state ionisation energies).
IONISATION_ENERGIES_EV = {
    "H": 13.598434599702, "He": 24.587389011, "Li": 5.391714996, "Be": 9.322699,
    "B": 8.298019, "C": 11.260288, "N": 14.53413, "O": 13.618055, "F": 17.42282,
    "Ne": 21.564541, "Na": 5.13907696, "Mg": 7.646236, "Al": 5.985769, "Si": 8.15168,
    "P": 10.486686, "S": 10.36001, "Cl": 12.967633, "Ar": 15.7596119,
}  # fmt: skip

ATOMS_H_AR = tuple(ATOM_SPINS)
#: Atoms whose ionisation energies the shipped functional is trained on ...
IP_TRAINING_ATOMS = ("Li", "C", "N", "O", "Ne", "Na", "Si", "S", "Cl")
#: ... and the held-out rest, never used in training or model selection.
IP_TEST_ATOMS = tuple(a for a in ATOMS_H_AR if a not in IP_TRAINING_ATOMS)

#: Ionisation energies outside the held-out IPs that stand for their kinds of ionisation:
#: the He-like Li+ (two compact electrons, like He), Ca (a closed s^2 shell, like Be and Mg),
#: Ga (a lone p electron, like B and Al) and K (an s electron outside a closed shell). The
#: split allows atoms and the ions of training atoms; these atoms lie beyond Ar, so no
#: held-out IP is among them. Each is ``(element, charge, 2S before, 2S after, NIST
#: ionisation energy in eV, spin-orbit stabilisation of the initial level in kcal/mol)``:
#: NIST Atomic Spectra Database (Li II, K I, Ca I, Ga I); Ga's ground level 2P1/2 lies
#: 4/6 x 826.19 cm^-1 below its term average, which a calculation without spin-orbit coupling
#: does not see, so its label is lowered by that much (the final states are S states). Scalar
#: relativity moves these IPs by at most 0.42 kcal/mol (X2C-r2SCAN/def2-TZVP, PySCF), as much
#: as it moves Cl's (-0.30), and is left out like there.
EXTRA_IONISATIONS = {
    "Li+": ("Li", 1, 0, 1, 75.6400, 0.0),
    "K": ("K", 0, 1, 0, 4.34066369, 0.0),
    "Ca": ("Ca", 0, 0, 1, 6.11315547, 0.0),
    "Ga": ("Ga", 0, 1, 0, 5.9993020, 826.19 * 4 / 6 / HARTREE_TO_CM1 * HARTREE_TO_KCAL_PER_MOL),
}

_DATA = {**g2_1.data, **g2_2.data}
G2_1_MOLECULES = tuple(g2_1.molecule_names)
G2_2_MOLECULES = tuple(g2_2.molecule_names)


def _heavy_atoms(name: str) -> int:
    return sum(s != "H" for s in g2_1.string2symbols(_DATA[name]["symbols"]))


#: G2 molecules that training may use: at most two non-hydrogen atoms.
TRAINING_MOLECULES = tuple(n for n in G2_1_MOLECULES + G2_2_MOLECULES if _heavy_atoms(n) <= 2)
#: Every other G2-1/G2-2 molecule: never seen in training or model selection.
TEST_MOLECULES = tuple(n for n in G2_1_MOLECULES + G2_2_MOLECULES if _heavy_atoms(n) > 2)


def atomisation_energy(name: str) -> float:
    """Experimental atomisation energy of a G2-1 or G2-2 molecule (Hartree, no zero-point energy).

    ``-dH_f(mol) + ZPE + thermal(mol) + sum_atoms (dH_f(atom) - thermal(atom))``, the
    formula of ``ase.data.g2_1.get_atomization_energy`` (kcal/mol in ASE's tables).
    """
    if name not in _DATA or name in ATOM_SPINS:
        raise ValueError(f"{name!r} is not a G2-1 or G2-2 molecule.")
    d = _DATA[name]
    kcal = -d["enthalpy"] + d["ZPE"] + d["thermal correction"]
    for symbol in g2_1.string2symbols(d["symbols"]):
        kcal += _DATA[symbol]["enthalpy"] - _DATA[symbol]["thermal correction"]
    return kcal / HARTREE_TO_KCAL_PER_MOL


def atom_spec(symbol: str, basis: str, charge: int = 0, number: int = 1) -> SystemSpec:
    """A free atom (or its singly charged cation) in its ground-state spin."""
    spin = ATOM_SPINS[symbol]
    if charge == 1:
        z = atomic_numbers[symbol] - 1
        spin = ATOM_SPINS[chemical_symbols[z]] if z > 0 else 0
    elif charge != 0:
        raise ValueError("only neutral atoms and singly charged cations are tabulated")
    return SystemSpec(f"{symbol} 0 0 0", basis, spin=spin, charge=charge, number=number)


def molecule_spec(name: str, basis: str) -> SystemSpec:
    """A G2 molecule at ASE's geometry, spin from its initial magnetic moments."""
    from ase.build import molecule

    atoms = molecule(name)
    positions = atoms.positions * ANGSTROM_TO_BOHR
    moldesc = "; ".join(f"{s} {x:.8f} {y:.8f} {z:.8f}" for s, (x, y, z) in zip(atoms.get_chemical_symbols(), positions))
    spin = int(round(abs(atoms.get_initial_magnetic_moments().sum())))
    return SystemSpec(moldesc, basis, spin=spin)


def ionisation_entries(symbols, basis: str = "def2-svp") -> list[Entry]:
    """First ionisation energies of atoms (``ie`` entries: cation minus neutral, NIST values).

    Raises
    ------
    ValueError
        For an atom outside H-Ar or H itself (H+ has no electrons).

    """
    entries = []
    for symbol in symbols:
        if symbol not in IONISATION_ENERGIES_EV:
            raise ValueError(f"no tabulated ionisation energy for {symbol!r} (atoms H-Ar only).")
        if symbol == "H":
            raise ValueError("H+ has no electrons; leave H out of ionisation-energy sets.")
        systems = (atom_spec(symbol, basis), atom_spec(symbol, basis, charge=1))
        entries.append(Entry("ie", IONISATION_ENERGIES_EV[symbol] / HARTREE_TO_EV, systems, name=f"IP {symbol}"))
    return entries


def extra_ionisation_entries(names=tuple(EXTRA_IONISATIONS), basis: str = "def2-svp") -> list[Entry]:
    """Ionisation energies of :data:`EXTRA_IONISATIONS` (``ie`` entries: ion minus initial state).

    Raises
    ------
    ValueError
        For a name that is not in :data:`EXTRA_IONISATIONS`.

    """
    entries = []
    for name in names:
        if name not in EXTRA_IONISATIONS:
            raise ValueError(f"no extra ionisation energy {name!r}; choose from {', '.join(EXTRA_IONISATIONS)}.")
        symbol, charge, spin, spin_after, ev, spin_orbit = EXTRA_IONISATIONS[name]
        before = SystemSpec(f"{symbol} 0 0 0", basis, spin=spin, charge=charge)
        after = SystemSpec(f"{symbol} 0 0 0", basis, spin=spin_after, charge=charge + 1)
        value = ev / HARTREE_TO_EV - spin_orbit / HARTREE_TO_KCAL_PER_MOL
        entries.append(Entry("ie", value, (before, after), name=f"IP {name}"))
    return entries


def atomisation_entries(names, basis: str = "def2-svp") -> list[Entry]:
    """Experimental atomisation energies of G2-1/G2-2 molecules (molecule first, then its atoms)."""
    entries = []
    for name in names:
        counts: dict[str, int] = {}
        for symbol in g2_1.string2symbols(_DATA[name]["symbols"]):
            counts[symbol] = counts.get(symbol, 0) + 1
        systems = [molecule_spec(name, basis)] + [atom_spec(s, basis, number=n) for s, n in counts.items()]
        entries.append(Entry("ae", atomisation_energy(name), tuple(systems), name=f"AE {name}"))
    return entries


def training_entries(basis: str = "def2-svp", extra_ips: bool | Sequence[str] = False) -> list[Entry]:
    """The structural training set: AEs of the G2 molecules with <= 2 non-H atoms, and IPs.

    The IPs are those of :data:`IP_TRAINING_ATOMS`, plus with ``extra_ips=True`` all those of
    :data:`EXTRA_IONISATIONS`, or with a sequence of its names (``["Li+"]``) those alone.
    """
    entries = atomisation_entries(TRAINING_MOLECULES, basis) + ionisation_entries(IP_TRAINING_ATOMS, basis)
    if extra_ips is True:
        extra_ips = tuple(EXTRA_IONISATIONS)
    return entries + (extra_ionisation_entries(extra_ips, basis=basis) if extra_ips else [])


def main(argv=None) -> None:
    """``python -m ase_nnxc.train.g2 OUT.yaml [--basis B] [--extra-ips ...] [--h2 W]``: write the training set as YAML."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("out")
    parser.add_argument("--basis", default="def2-svp")
    parser.add_argument(
        "--extra-ips",
        nargs="*",
        metavar="NAME",
        help=f"add IPs of EXTRA_IONISATIONS: the names given, or all ({', '.join(EXTRA_IONISATIONS)}) when none is",
    )
    parser.add_argument(
        "--h2",
        type=float,
        metavar="WEIGHT",
        help="add exact H2 binding energies at --h2-distances with this entry weight (ase_nnxc.train.h2)",
    )
    parser.add_argument("--h2-distances", type=float, nargs="+", default=list(TRAINING_DISTANCES), metavar="R")
    args = parser.parse_args(argv)
    if args.h2 is not None and args.h2 <= 0:
        parser.error(f"--h2 needs a positive weight, got {args.h2}")
    extra = args.extra_ips if args.extra_ips else args.extra_ips is not None
    entries = training_entries(args.basis, extra_ips=extra)
    if args.h2 is not None:
        from dataclasses import replace

        entries += [replace(e, weight=args.h2) for e in binding_curve_entries(args.h2_distances, args.basis)]
    save_dataset(entries, args.out)
    print(f"wrote {len(entries)} entries to {args.out}")


if __name__ == "__main__":
    main()

"""Atomisation energies of small molecules that G2 lacks, from a CCSD(T)-based composite method.

The structural split allows training on molecules with at most two non-hydrogen atoms, and G2
has only 63 of them. This module labels more, with bonds that the test set's worst cases carry
(N-O, N-F, O-F, Si-F, Si-O, P-F, P=O, S-O), by the project's own wavefunction calculations:

    E = E_HF/cc-pVQZ + E_c^CCSD(T)/cc-pVTZ + [E_c^MP2/CBS(T,Q) - E_c^MP2/cc-pVTZ]

with frozen cores and the correlation energy extrapolated as ``E_c(X) = E_c(CBS) + A / X^3``
(Helgaker et al., J. Chem. Phys. 106, 9639 (1997)); open shells use UHF references. The
atomisation energy is then lowered by the atoms' spin-orbit stabilisation, which experimental
atomisation energies (the G2 labels) contain and a non-relativistic calculation does not.
Core-valence correlation and scalar relativity are left out (together about 1 kcal/mol for
these molecules); ``tests/train/test_composite.py`` checks the method against experiment on
G2 molecules.

Geometries are relaxed with r2SCAN/def2-TZVP (ase_nnxc's own calculator and ASE's BFGS) from
the rough starting structures in :data:`START_GEOMETRIES`.

* ``python -m ase_nnxc.train.composite OUT.yaml [--with-g2]``: relax, label and write ``ae``
  entries (def2-SVP systems by default) as DeepChem YAML, after the G2 training set with
  ``--with-g2``; about 20 minutes on 2 cores.
"""

from __future__ import annotations

from collections import Counter
from functools import lru_cache

from ase_nnxc.train import g2
from ase_nnxc.train.dataset import Entry, SystemSpec
from ase_nnxc.train.g2 import ATOM_SPINS, atom_spec
from ase_nnxc.train.labels import stable_hartree_fock
from ase_nnxc.units import ANGSTROM_TO_BOHR, HARTREE_TO_KCAL_PER_MOL

#: Spin-orbit stabilisation of the atoms' ground levels relative to their term averages
#: (kcal/mol; from Moore's tables, as used in Gaussian-n theory: Curtiss et al., J. Chem. Phys.
#: 109, 7764 (1998)). Atoms not listed have none (S states) or are not needed here.
SPIN_ORBIT_KCAL = {"B": 0.03, "C": 0.09, "O": 0.22, "F": 0.39, "Al": 0.21, "Si": 0.43, "S": 0.56, "Cl": 0.84}

#: Closed-shell molecules with two non-hydrogen atoms that G2 does not contain: rough starting
#: structures (Angstrom), relaxed before labelling.
START_GEOMETRIES = {
    "HNO": [("N", 0, 0, 0), ("O", 0, 0, 1.21), ("H", 1.005, 0, -0.338)],
    "HOF": [("O", 0, 0, 0), ("F", 0, 0, 1.44), ("H", 0.962, 0, -0.127)],
    "NH2OH": [("N", 0, 0, 0), ("O", 0, 0, 1.45), ("H", 0.939, 0, 1.65), ("H", -0.6, 0.75, -0.35), ("H", -0.6, -0.75, -0.35)],
    "NH2F": [("N", 0, 0, 0), ("F", 0, 0, 1.43), ("H", -0.6, 0.75, -0.35), ("H", -0.6, -0.75, -0.35)],
    "SiH3F": [("Si", 0, 0, 0), ("F", 0, 0, 1.60), ("H", 1.391, 0, -0.506), ("H", -0.695, 1.204, -0.506), ("H", -0.695, -1.204, -0.506)],
    "PH2F": [("P", 0, 0, 0), ("F", 0, 0, 1.60), ("H", -0.58, 1.16, -0.58), ("H", -0.58, -1.16, -0.58)],
    "HPO": [("P", 0, 0, 0), ("O", 0, 0, 1.48), ("H", 1.412, 0, -0.371)],
    "H3PO": [("P", 0, 0, 0), ("O", 0, 0, 1.48), ("H", 1.265, 0, -0.645), ("H", -0.632, 1.095, -0.645), ("H", -0.632, -1.095, -0.645)],
    "HSOH": [("S", 0, 0, 0), ("O", 0, 0, 1.66), ("H", 1.337, 0, -0.188), ("H", 0, 0.922, 1.96)],
    "SiH3OH": [("Si", 0, 0, 0), ("O", 0, 0, 1.65), ("H", 0.92, 0, 1.95), ("H", -1.391, 0, -0.506), ("H", 0.695, 1.204, -0.506), ("H", 0.695, -1.204, -0.506)],
}  # fmt: skip

#: Basis sets of the composite and the cardinal numbers of the extrapolation.
SMALL, LARGE = ("def2-tzvpp", 3), ("def2-qzvpp", 4)


def _frozen_orbitals(mol) -> int:
    """Core orbitals kept frozen: 1s for Li-Ne, 1s2s2p for Na-Ar."""
    return sum(0 if z <= 2 else 1 if z <= 10 else 5 for z in mol.atom_charges())


def _reference(mol):
    failure = f"Hartree-Fock did not converge for {mol.atom} ({mol.basis})"
    return stable_hartree_fock(mol, 1e-10, failure, max_cycle=200)


def _mp2_correlation(mf, frozen: int) -> float:
    from pyscf import mp

    return float(mp.MP2(mf, frozen=frozen or None).kernel()[0])


def composite_energy(symbols_positions, spin: int = 0, charge: int = 0) -> float:
    """Composite energy (Hartree) of a molecule or atom: ``[(symbol, x, y, z), ...]`` in Angstrom.

    Raises
    ------
    RuntimeError
        When a Hartree-Fock or CCSD calculation does not converge.

    """
    from pyscf import cc, gto

    atom = [(s, (float(x), float(y), float(z))) for s, x, y, z in symbols_positions]

    def mole(basis):
        return gto.M(atom=atom, basis=basis, spin=spin, charge=charge, unit="Angstrom", verbose=0)

    small, large = mole(SMALL[0]), mole(LARGE[0])
    frozen = _frozen_orbitals(small)
    mf_small, mf_large = _reference(small), _reference(large)
    mp2_small, mp2_large = _mp2_correlation(mf_small, frozen), _mp2_correlation(mf_large, frozen)
    (x, y) = SMALL[1] ** 3, LARGE[1] ** 3
    mp2_cbs = (y * mp2_large - x * mp2_small) / (y - x)
    if small.nelectron - 2 * frozen > 1:
        ccsd = (cc.CCSD if spin == 0 else cc.UCCSD)(mf_small, frozen=frozen or None)
        ccsd.conv_tol = 1e-9
        ccsd.kernel()
        if not ccsd.converged:
            raise RuntimeError(f"CCSD did not converge for {atom}")
        ccsd_t = float(ccsd.e_corr + ccsd.ccsd_t())
    else:  # one correlated electron: no correlation energy
        ccsd_t = 0.0
    return float(mf_large.e_tot) + ccsd_t + (mp2_cbs - mp2_small)


@lru_cache
def atom_energy(symbol: str) -> float:
    """Composite energy (Hartree) of a free atom in its ground-state spin (cached per process)."""
    return composite_energy([(symbol, 0, 0, 0)], spin=ATOM_SPINS[symbol])


def composite_atomisation_energy(symbols_positions, spin: int = 0) -> float:
    """Composite atomisation energy (Hartree, no zero-point energy), spin-orbit corrected."""
    counts = Counter(s for s, *_ in symbols_positions)
    atoms = sum(n * atom_energy(s) for s, n in counts.items())
    spin_orbit = sum(n * SPIN_ORBIT_KCAL.get(s, 0.0) for s, n in counts.items()) / HARTREE_TO_KCAL_PER_MOL
    return atoms - composite_energy(symbols_positions, spin=spin) - spin_orbit


def relax(symbols_positions, fmax: float = 0.01):
    """r2SCAN/def2-TZVP equilibrium geometry (ASE BFGS, ``fmax`` in eV/Angstrom), same format."""
    from ase import Atoms
    from ase.optimize import BFGS

    from ase_nnxc.calculator import NNXC

    atoms = Atoms([s for s, *_ in symbols_positions], positions=[p for _, *p in symbols_positions])
    atoms.calc = NNXC(xc="r2scan", basis="def2-tzvp")
    BFGS(atoms, logfile=None).run(fmax=fmax, steps=200)
    return [(s, *map(float, p)) for s, p in zip(atoms.get_chemical_symbols(), atoms.positions)]


def entry(name: str, symbols_positions, label: float, basis: str = "def2-svp") -> Entry:
    """An ``ae`` entry (molecule first, then its atoms) for a labelled closed-shell molecule."""
    moldesc = "; ".join(f"{s} {x * ANGSTROM_TO_BOHR:.8f} {y * ANGSTROM_TO_BOHR:.8f} {z * ANGSTROM_TO_BOHR:.8f}"
                        for s, x, y, z in symbols_positions)  # fmt: skip
    counts = Counter(s for s, *_ in symbols_positions)
    systems = [SystemSpec(moldesc, basis)] + [atom_spec(s, basis, number=n) for s, n in counts.items()]
    return Entry("ae", label, tuple(systems), name=f"AE {name} (composite)")


def check_against_experiment(names) -> list[float]:
    """Print and return composite minus experiment (kcal/mol) for G2 molecules at ASE's geometries."""
    from ase.build import molecule

    errors = []
    for name in names:
        atoms = molecule(name)
        geometry = [(s, *p) for s, p in zip(atoms.get_chemical_symbols(), atoms.positions)]
        spin = int(round(abs(atoms.get_initial_magnetic_moments().sum())))
        computed = composite_atomisation_energy(geometry, spin=spin) * HARTREE_TO_KCAL_PER_MOL
        experiment = g2.atomisation_energy(name) * HARTREE_TO_KCAL_PER_MOL
        errors.append(computed - experiment)
        print(f"{name:8s} composite {computed:8.2f}  experiment {experiment:8.2f}  error {errors[-1]:+6.2f}", flush=True)
    return errors


def main(argv=None) -> None:
    """``python -m ase_nnxc.train.composite OUT.yaml [--basis B] [--molecules ...]``."""
    import argparse

    from tqdm.auto import tqdm

    from ase_nnxc.train.dataset import save_dataset

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("out", nargs="?", help="YAML file to write")
    parser.add_argument("--basis", default="def2-svp", help="basis of the written systems")
    parser.add_argument(
        "--check-g2", nargs="+", metavar="NAME", help="instead: compare with experiment for these G2 molecules"
    )
    parser.add_argument("--molecules", nargs="*", default=list(START_GEOMETRIES))
    parser.add_argument("--with-g2", action="store_true", help="write the G2 training set first (ase_nnxc.train.g2)")
    args = parser.parse_args(argv)
    if args.check_g2:
        check_against_experiment(args.check_g2)
        return
    if args.out is None:
        parser.error("give the output file (or --check-g2 NAME ...)")
    unknown = set(args.molecules) - set(START_GEOMETRIES)
    if unknown:
        parser.error(f"no starting structure for {', '.join(sorted(unknown))}; known: {', '.join(START_GEOMETRIES)}")
    entries = []
    for name in tqdm(args.molecules, desc="relax and label"):
        geometry = relax(START_GEOMETRIES[name])
        label = composite_atomisation_energy(geometry)
        tqdm.write(f"{name}: {label * HARTREE_TO_KCAL_PER_MOL:.2f} kcal/mol")
        entries.append(entry(name, geometry, label, args.basis))
    if args.with_g2:
        entries = g2.training_entries(args.basis) + entries
    save_dataset(entries, args.out)
    print(f"wrote {len(entries)} entries to {args.out}")


__all__ = [
    "START_GEOMETRIES",
    "atom_energy",
    "check_against_experiment",
    "composite_atomisation_energy",
    "composite_energy",
    "entry",
    "relax",
]

if __name__ == "__main__":
    main()

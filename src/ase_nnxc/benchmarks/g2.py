"""The G2 benchmark as reactions: atomisation energies, atomic ionisation energies, the H2 curve.

Reference data (nothing is downloaded): experimental, zero-point-free atomisation energies of
ASE's G2-1 and G2-2 molecules and NIST ionisation energies of H-Ar
(:mod:`ase_nnxc.train.g2`), and an FCI/aug-cc-pVQZ H2 binding curve computed here and cached.

Subsets: ``AE`` (reaction ``molecule -> atoms``, reference the atomisation energy), ``IP``
(``atom -> cation``; H+ has no electrons and energy 0) and ``H2`` (``E(H2, R) - 2 E(H)``
against FCI). The species are those of the earlier G2 benchmark, so its energy caches are
reused as they are.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np

from ase_nnxc.benchmarks.reactions import Reaction, ReactionSet, Species, parse_moldesc
from ase_nnxc.benchmarks.runner import Method, Runner
from ase_nnxc.train import g2
from ase_nnxc.train.dataset import SystemSpec
from ase_nnxc.train.h2 import EXACT_BASIS, exact_energy
from ase_nnxc.train.h2 import molecule_spec as h2_spec
from ase_nnxc.units import HARTREE_TO_EV, HARTREE_TO_KCAL_PER_MOL

#: H2 bond lengths (Angstrom) of the dissociation curve.
H2_DISTANCES = tuple(np.round(np.arange(0.5, 3.01, 0.1), 2))
#: The stretch over which the H2 figure (largest deviation from FCI) is measured (Angstrom).
H2_WINDOW = (0.5, 1.5)
#: Basis of the FCI reference curve (near the basis-set limit for two electrons).
FCI_BASIS = EXACT_BASIS


def species_from_spec(spec: SystemSpec, name: str) -> Species:
    """The :class:`Species` of a dataset system (its ``moldesc`` in Bohr; the basis is ignored)."""
    numbers, positions = parse_moldesc(spec.moldesc)
    return Species(name, numbers, positions, spec.charge, spec.spin)


def _atom(symbol: str, charge: int = 0) -> tuple[str, Species]:
    name = f"atom/{symbol}{'+' if charge else ''}"
    return name, species_from_spec(g2.atom_spec(symbol, "def2-svp", charge=charge), name)


def atomisation_reactions(names) -> tuple[list[Reaction], dict[str, Species]]:
    """``AE NAME``: molecule -> atoms, reference the experimental atomisation energy (kcal/mol)."""
    reactions, species = [], {}
    for index, name in enumerate(names, start=1):
        molecule = f"G2/{name}"
        species[molecule] = species_from_spec(g2.molecule_spec(name, "def2-svp"), molecule)
        components = [(molecule, -1)]
        for symbol, count in Counter(species[molecule].symbols).items():
            atom_name, atom = _atom(symbol)
            species[atom_name] = atom
            components.append((atom_name, count))
        reference = g2.atomisation_energy(name) * HARTREE_TO_KCAL_PER_MOL
        reactions.append(Reaction("AE", index, tuple(components), reference, label=f"AE {name}"))
    return reactions, species


def ionisation_reactions(symbols) -> tuple[list[Reaction], dict[str, Species]]:
    """``IP X``: atom -> cation, reference the NIST ionisation energy (kcal/mol)."""
    reactions, species = [], {}
    for index, symbol in enumerate(symbols, start=1):
        (neutral, a), (cation, b) = _atom(symbol), _atom(symbol, charge=1)
        species.update({neutral: a, cation: b})
        reference = g2.IONISATION_ENERGIES_EV[symbol] / HARTREE_TO_EV * HARTREE_TO_KCAL_PER_MOL
        reactions.append(Reaction("IP", index, ((neutral, -1), (cation, 1)), reference, label=f"IP {symbol}"))
    return reactions, species


def h2_reactions(distances=H2_DISTANCES, fci=None) -> tuple[list[Reaction], dict[str, Species]]:
    """``H2 R``: ``E(H2, R) - 2 E(H)`` (kcal/mol), against ``fci`` (the curve of :func:`fci_h2_curve`; 0 if ``None``)."""
    hydrogen, h = _atom("H")
    reactions, species = [], {hydrogen: h}
    references = np.zeros(len(distances)) if fci is None else fci
    for index, (r, reference) in enumerate(zip(distances, references), start=1):
        name = f"H2/{r:.2f}"
        species[name] = species_from_spec(h2_spec(float(r), "def2-svp"), name)
        reactions.append(Reaction("H2", index, ((name, 1), (hydrogen, -2)), float(reference), label=f"H2 {r:.2f} A"))
    return reactions, species


def g2_reaction_set(names, atoms=g2.ATOMS_H_AR, h2_cache_dir=None, distances=H2_DISTANCES) -> ReactionSet:
    """The G2 benchmark: AEs of ``names``, IPs of ``atoms`` and (with ``h2_cache_dir``) the H2 curve."""
    reactions, species = atomisation_reactions(names)
    more, more_species = ionisation_reactions(atoms)
    reactions += more
    species.update(more_species)
    if h2_cache_dir is not None:
        more, more_species = h2_reactions(distances, fci_h2_curve(h2_cache_dir, distances))
        reactions += more
        species.update(more_species)
    return ReactionSet(
        "G2",
        reactions,
        species,
        categories={r.subset: r.subset for r in reactions},
        notes=[
            "MAD in kcal/mol; AE: prediction - experiment (zero-point free); IP: NIST; H2: against FCI/aug-cc-pVQZ."
        ],
    )


def fci_h2_curve(cache_dir, distances=H2_DISTANCES, basis: str = FCI_BASIS) -> np.ndarray:
    """FCI binding curve ``E(H2, R) - 2 E(H)`` of H2 (kcal/mol), cached in ``fci-BASIS.json``."""
    path = Path(cache_dir) / f"fci-{basis}.json"
    records = json.loads(path.read_text()) if path.is_file() else {}
    wanted = {"H": None, **{f"{r:.4f}": float(r) for r in distances}}
    missing = {key: distance for key, distance in wanted.items() if key not in records}
    if missing:
        records.update({key: exact_energy(distance, basis) for key, distance in missing.items()})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(records, indent=1))
    return np.array([(records[f"{r:.4f}"] - 2 * records["H"]) * HARTREE_TO_KCAL_PER_MOL for r in distances])


def g2_runner(method: Method, cache_dir, compute: bool = True, progress: bool = True) -> Runner:
    """The runner of the G2 benchmark: exact integrals, non-aufbau states accepted (as in training)."""
    return Runner(method, cache_dir, density_fit=method.density_fit, compute=compute, require_aufbau=False,
                  progress=progress)  # fmt: skip


def reaction_errors_of(method: Method, reaction_set: ReactionSet, cache_dir, compute=True, progress=True):
    """``computed - reference`` (kcal/mol) of every reaction, by label; ``None`` where a species failed."""
    from ase_nnxc.benchmarks.report import reaction_errors

    energies = g2_runner(method, cache_dir, compute, progress).energies(reaction_set)
    return reaction_errors(reaction_set, energies)


def atomisation_errors(method: Method, names, cache_dir, progress: bool = True, compute: bool = True) -> dict:
    """Atomisation-energy errors (kcal/mol, prediction - experiment) of G2 molecules, by molecule name."""
    reactions, species = atomisation_reactions(names)
    errors = reaction_errors_of(method, ReactionSet("G2", reactions, species), cache_dir, compute, progress)
    return {name: errors[f"AE {name}"] for name in names}


def ionisation_errors(method: Method, symbols, cache_dir, progress: bool = True, compute: bool = True) -> dict:
    """Ionisation-energy errors (kcal/mol) of atoms, by symbol; H's IP is ``-E(H)``."""
    reactions, species = ionisation_reactions(symbols)
    errors = reaction_errors_of(method, ReactionSet("G2", reactions, species), cache_dir, compute, progress)
    return {s: errors[f"IP {s}"] for s in symbols}


def h2_curve(method: Method, cache_dir, distances=H2_DISTANCES, compute: bool = True, progress: bool = True):
    """Binding curve ``E(H2, R) - 2 E(H)`` (kcal/mol) at ``distances`` (Angstrom); ``nan`` where an SCF failed."""
    reactions, species = h2_reactions(distances)
    errors = reaction_errors_of(method, ReactionSet("G2", reactions, species), cache_dir, compute, progress)
    return np.array([np.nan if errors[r.name] is None else errors[r.name] for r in reactions])


def mean_absolute(errors) -> tuple[float, int]:
    """MAE over the values that exist, and how many are missing (``None``)."""
    errors = list(errors)
    values = [abs(v) for v in errors if v is not None]
    return (float(np.mean(values)) if values else float("nan")), sum(v is None for v in errors)

"""Random small molecules through the calculator: finite energy and forces, or a typed error; nothing else.

Molecules: 2-4 atoms from H to Ne at least 0.7 Angstrom apart, charge -1 to 1 with a spin the
electron count allows, sto-3g or 6-31G, grid level 1, LDA, PBE or B3LYP. Each calculation is
bounded by the SCF's cycle budget (``SCFConfig.cycle_budget``), which the test checks; the
default suite draws a few examples, ``-m slow`` draws 500 and prints the counts, the slowest
example and the largest energy difference from PySCF on 20 converged ones.
"""

import math
import re
import time
from collections import Counter

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.calculator import CalculatorError, SCFError
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ase_nnxc import NNXC
from ase_nnxc.scf import SCFConfig
from ase_nnxc.units import HARTREE_TO_EV

FUNCTIONALS = ("lda,vwn", "pbe", "b3lyp")
MIN_DISTANCE = 0.7  # Angstrom


@st.composite
def molecules(draw):
    """``(atoms, charge, spin, basis, xc)``: each atom placed 0.7-2.5 Angstrom from an earlier one."""
    count = draw(st.integers(2, 4))
    numbers = draw(st.lists(st.integers(1, 10), min_size=count, max_size=count))
    positions = [np.zeros(3)]
    for i in range(1, count):
        anchor = positions[draw(st.integers(0, i - 1))]
        direction = np.array(draw(st.tuples(*[st.floats(-1.0, 1.0)] * 3)))
        assume(np.linalg.norm(direction) > 0.1)
        distance = draw(st.floats(MIN_DISTANCE, 2.5))
        positions.append(anchor + distance * direction / np.linalg.norm(direction))
    positions = np.array(positions)
    pairs = np.linalg.norm(positions[:, None] - positions[None], axis=-1)[np.triu_indices(count, 1)]
    assume(pairs.min() >= MIN_DISTANCE)
    charge = draw(st.integers(-1, 1))
    electrons = sum(numbers) - charge
    assume(electrons > 0)
    spin = electrons % 2 + (2 if electrons >= electrons % 2 + 2 and draw(st.booleans()) else 0)
    basis = draw(st.sampled_from(["sto-3g", "6-31g"]))
    xc = draw(st.sampled_from(FUNCTIONALS))
    return Atoms(numbers=numbers, positions=positions), charge, spin, basis, xc


def calculate(case) -> tuple[str, float, float]:
    """Energy and forces of one case: ``(outcome, energy in Hartree or NaN, seconds)``.

    The outcome is ``"converged"`` or the name of the typed error; anything else raises.
    """
    atoms, charge, spin, basis, xc = case
    atoms = atoms.copy()
    budget = SCFConfig().cycle_budget
    start = time.perf_counter()
    try:
        atoms.calc = NNXC(xc=xc, basis=basis, charge=charge, spin=spin, grid_level=1)
        forces = atoms.get_forces()
        energy = atoms.get_potential_energy()
    except CalculatorError as err:  # InputError, SCFError, CalculationFailed: typed, with a message
        message = str(err)
        assert message
        cycles = re.search(r"after (\d+) cycles", message)
        if isinstance(err, SCFError) and cycles is not None:
            assert int(cycles.group(1)) <= budget, message
        return type(err).__name__, math.nan, time.perf_counter() - start
    assert math.isfinite(energy) and np.isfinite(forces).all(), (energy, forces)
    assert atoms.calc.scf_cycles <= budget
    return "converged", energy / HARTREE_TO_EV, time.perf_counter() - start


FAST = settings(
    max_examples=4, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)


@FAST
@given(molecules())
def test_random_molecules_give_finite_results_or_a_typed_error(case):
    calculate(case)


def pyscf_energy(case) -> float:
    """PySCF's energy of a case with the same basis, functional and grid (RKS or UKS like ours)."""
    from pyscf import dft, gto

    atoms, charge, spin, basis, xc = case
    mol = gto.M(
        atom=list(zip(atoms.get_chemical_symbols(), atoms.positions.tolist())),
        basis=basis,
        charge=charge,
        spin=spin,
        unit="Angstrom",
        verbose=0,
    )
    mf = dft.RKS(mol, xc=xc) if spin == 0 else dft.UKS(mol, xc=xc)
    mf.grids.level, mf.conv_tol, mf.max_cycle = 1, 1e-11, 200
    energy = mf.kernel()
    return energy if mf.converged else math.nan


@pytest.mark.slow
def test_five_hundred_random_molecules(capsys):
    outcomes: Counter = Counter()
    converged, times = [], []

    @settings(max_examples=500, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
    @given(molecules())
    def run(case):
        outcome, energy, seconds = calculate(case)
        outcomes[outcome] += 1
        times.append(seconds)
        with capsys.disabled():  # one line per example, so that a long run shows its progress
            atoms, charge, spin, basis, xc = case
            print(f"{len(times):4d} {atoms.get_chemical_formula():10s} q={charge:+d} 2S={spin} {basis:6s} {xc:8s} "
                  f"{outcome:10s} {seconds:6.1f} s", flush=True)
        if outcome == "converged" and len(converged) < 20:
            converged.append((case, energy))

    run()
    differences = [abs(energy - pyscf_energy(case)) for case, energy in converged]
    with capsys.disabled():
        print(f"\n{sum(outcomes.values())} examples: {dict(outcomes)}")
        print(f"slowest {max(times):.1f} s, {sum(t > 60 for t in times)} over 60 s, total {sum(times):.0f} s")
        print(f"largest |E - E_PySCF| over {len(differences)} converged: {np.nanmax(differences):.2e} Ha "
              f"(PySCF unconverged: {sum(math.isnan(d) for d in differences)})")
    assert sum(outcomes.values()) >= 500 and set(outcomes) <= {"converged", "SCFError", "InputError", "CalculationFailed"}

"""How an SCF fails: a cycle budget over the whole fallback chain, and a message saying which check failed."""

import re

import pytest
import torch
from ase import Atoms
from ase.calculators.calculator import SCFError

from ase_nnxc import NNXC
from ase_nnxc.scf import KohnSham, SCFConfig, SCFNotConverged, run_scf
from ase_nnxc.system import MolecularSystem
from ase_nnxc.train.checkpoint import build_functional
from ase_nnxc.xc import get_functional

# A random geometry of CN+ (issue 28): DIIS and the fallbacks reach both thresholds, but only
# with an empty orbital below a filled one.
CN_PLUS = Atoms("CN", positions=[[0, 0, 0], [-0.2590330807199095, 0.7773877330762811, 0.9817118389525444]])


def _assert_aufbau_message(message: str) -> None:
    assert "CN (charge 1, spin 0) with pbe" in message
    assert re.search(
        r"met the energy and commutator tolerances but failed the aufbau check "
        r"\(an empty orbital lay \d\.\d\de-\d\d Ha below a filled one\)",
        message,
    )
    assert "Try another spin" in message and "break_symmetry=True" in message and "require_aufbau=False" in message


def test_a_failed_aufbau_check_is_named_with_what_to_try():
    # Before, the message gave only the last energy change and commutator, both within tolerance.
    system = MolecularSystem.from_atoms(CN_PLUS, basis="sto-3g", charge=1, spin=0)
    ks = KohnSham(system, get_functional("pbe"), SCFConfig(grid_level=1, max_total_cycles=60))
    with pytest.raises(SCFNotConverged) as info:
        run_scf(ks)
    assert info.value.reason == "aufbau"
    _assert_aufbau_message(str(info.value))
    assert abs(info.value.last_energy_change) < 1e-9 and info.value.last_error < SCFConfig().gradient_tolerance


@pytest.mark.slow
def test_the_reported_cn_cation_names_the_aufbau_check_through_the_calculator():
    # issue 28's reproduction, as reported (171 cycles; about 5 s on a quiet machine)
    atoms = CN_PLUS.copy()
    atoms.calc = NNXC(xc="pbe", basis="6-31g", charge=1, spin=0, grid_level=1)
    with pytest.raises(SCFError) as info:
        atoms.get_potential_energy()
    _assert_aufbau_message(str(info.value))
    assert info.value.__cause__.reason == "aufbau"
    assert int(re.search(r"after (\d+) cycles", str(info.value)).group(1)) <= SCFConfig().cycle_budget
    atoms.calc = NNXC(xc="pbe", basis="6-31g", charge=1, spin=2, grid_level=1)
    assert atoms.get_potential_energy() < 0  # the advice holds: the triplet is an aufbau state


@pytest.mark.parametrize(("options", "budget"), [({"max_cycle": 10}, 20), ({"max_total_cycles": 25}, 25)])
def test_the_whole_fallback_chain_stops_at_the_cycle_budget(options, budget):
    # Before the budget, each of the three attempts (DIIS, direct minimisation, damped DIIS)
    # had max_cycle builds of its own: 30 for max_cycle=10, up to 300 by default.
    system = MolecularSystem.from_atoms(CN_PLUS, basis="6-31g", charge=1, spin=0)
    ks = KohnSham(system, get_functional("pbe"), SCFConfig(grid_level=1, **options))
    with pytest.raises(SCFNotConverged) as info:
        run_scf(ks)
    assert info.value.reason == "thresholds"
    assert f"after {budget} cycles: the cycle budget (max_total_cycles={budget}) ran out" in str(info.value)
    assert "Try a larger max_cycle" in str(info.value)


def test_a_functional_that_turns_nan_is_a_typed_scf_error():
    functional = build_functional("nn-lda", {"hidden": [2]}, "lda,vwn", a=1.0)
    with torch.no_grad():
        functional.model.net[0].weight.fill_(float("nan"))  # a diverged model, built without the checks of loading
    atoms = Atoms("H2", positions=[(0, 0, 0), (0, 0, 0.74)])
    atoms.calc = NNXC(xc=functional, basis="sto-3g", grid_level=0)
    with pytest.raises(SCFError, match=r"the energy became non-finite \(NaN or inf\) at cycle 1"):
        atoms.get_potential_energy()

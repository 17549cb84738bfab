"""D4 dispersion: against dftd4's own routes, finite differences, and where parameters come from.

The references are independent code paths for the same geometry and parameters: dftd4's ASE
calculator (`dftd4.ase.DFTD4`: Angstrom and eV, the library's compiled parameter table looked
up by method name) and, where installed, PySCF's `pyscf-dispersion` (a separately built
libdftd4 through ctypes). ase_nnxc reads its parameters from dftd4's parameters.toml and calls
the library through `dftd4.interface` with explicit damping values.
"""

import json
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule
from ase.calculators.calculator import InputError
from ase.collections import s22
from ase.io import write
from dftd4.ase import DFTD4
from dftd4.interface import DampingParam, DispersionModel

from ase_nnxc import NNXC
from ase_nnxc.cli import main
from ase_nnxc.dispersion import LIBXC_SPELLINGS, D4Parameters, d4_parameters, dispersion_energy_gradient
from ase_nnxc.train.checkpoint import build_functional, save_checkpoint
from ase_nnxc.units import ANGSTROM_TO_BOHR, BOHR_TO_ANGSTROM, HARTREE_TO_EV


def _structures():
    ethanol_cation = molecule("CH3CH2OH")
    acetate = molecule("CH3COOH")
    return [
        ("water dimer", s22["Water_dimer"], 0),
        ("benzene-methane", s22["Benzene-methane_complex"], 0),
        ("ethanol", molecule("CH3CH2OH"), 0),
        ("ethanol cation", ethanol_cation, 1),
        ("acetic acid anion", acetate, -1),
        ("chloromethane", molecule("CH3Cl"), 0),
    ]


STRUCTURES = _structures()


def _reference(atoms, charge, **dftd4_options):
    """Energy (Hartree) and gradient (Hartree/Bohr) from dftd4's ASE calculator."""
    atoms = atoms.copy()
    charges = np.zeros(len(atoms))
    charges[0] = charge  # dftd4.ase takes the total charge from the initial charges
    atoms.set_initial_charges(charges)
    atoms.calc = DFTD4(**dftd4_options)
    energy = atoms.get_potential_energy() / HARTREE_TO_EV
    gradient = -atoms.get_forces() / HARTREE_TO_EV * BOHR_TO_ANGSTROM
    return energy, gradient


def _ours(atoms, charge, params):
    return dispersion_energy_gradient(atoms.numbers, atoms.positions * ANGSTROM_TO_BOHR, charge, params)


@pytest.mark.parametrize("functional", ["r2scan", "b3lyp", "pbe", "pbe0", "tpss", "scan"])
@pytest.mark.parametrize(("label", "atoms", "charge"), STRUCTURES, ids=[s[0] for s in STRUCTURES])
def test_energy_and_gradient_equal_dftd4_ase_calculator(functional, label, atoms, charge):
    energy, gradient = _ours(atoms, charge, d4_parameters(functional))
    reference_energy, reference_gradient = _reference(atoms, charge, method=functional)
    assert energy == pytest.approx(reference_energy, abs=1e-10)
    assert np.abs(gradient - reference_gradient).max() < 1e-10
    assert energy < -1e-4  # a real dispersion energy, not a zero


@pytest.mark.parametrize("functional", ["r2scan", "b3lyp", "pbe"])
def test_energy_and_gradient_equal_pyscf_dispersion(functional):
    pyscf_d4 = pytest.importorskip("pyscf.dispersion.dftd4")
    from ase_nnxc.system import MolecularSystem

    for _, atoms, charge in STRUCTURES:
        spin = int(sum(atoms.numbers) - charge) % 2
        mol = MolecularSystem.from_atoms(atoms, basis="sto-3g", charge=charge, spin=spin).to_mole()
        reference = pyscf_d4.DFTD4Dispersion(mol, xc=functional).get_dispersion(grad=True)
        energy, gradient = _ours(atoms, charge, d4_parameters(functional))
        assert energy == pytest.approx(float(reference["energy"]), abs=1e-10)
        assert np.abs(gradient - reference["gradient"]).max() < 1e-10


def test_the_charge_changes_the_dispersion_energy():
    atoms = molecule("CH3CH2OH")
    params = d4_parameters("r2scan")
    neutral, cation = (_ours(atoms, charge, params)[0] for charge in (0, 1))
    assert abs(neutral - cation) > 1e-5


def test_explicit_parameters_equal_dftd4_with_the_same_tweaks():
    atoms = s22["Methane_dimer"]
    values = {"s8": 0.8, "a1": 0.45, "a2": 5.1, "s9": 0.5}
    energy, gradient = _ours(atoms, 0, values)
    reference_energy, reference_gradient = _reference(atoms, 0, params_tweaks=values)
    assert energy == pytest.approx(reference_energy, abs=1e-10)
    assert np.abs(gradient - reference_gradient).max() < 1e-10


def test_every_mapped_table_row_equals_the_compiled_library_row():
    atoms = s22["Formamide_dimer"]
    model = DispersionModel(atoms.numbers, atoms.positions * ANGSTROM_TO_BOHR, 0.0)
    for method, spellings in LIBXC_SPELLINGS.items():
        reference = float(model.get_dispersion(DampingParam(method=method), grad=False)["energy"])
        for spelling in spellings:
            params = d4_parameters(spelling)
            assert params.functional == method, spelling
            assert _ours(atoms, 0, params)[0] == pytest.approx(reference, abs=1e-12), spelling


@pytest.mark.parametrize(("label", "atoms", "charge"), [STRUCTURES[1], STRUCTURES[4]], ids=["neutral", "anion"])
def test_gradient_equals_central_differences_of_the_energy(label, atoms, charge):
    params = d4_parameters("r2scan")
    positions = atoms.positions * ANGSTROM_TO_BOHR
    _, gradient = dispersion_energy_gradient(atoms.numbers, positions, charge, params)
    step = 1e-4
    numeric = np.zeros_like(positions)
    for index in np.ndindex(*positions.shape):
        energies = []
        for sign in (1, -1):
            moved = positions.copy()
            moved[index] += sign * step
            energies.append(dispersion_energy_gradient(atoms.numbers, moved, charge, params)[0])
        numeric[index] = (energies[0] - energies[1]) / (2 * step)
    assert np.abs(gradient).max() > 1e-5
    assert np.abs(numeric - gradient).max() < 1e-9


@pytest.mark.parametrize(
    ("spelling", "row"),
    [
        ("R2SCAN", "r2scan"),
        ("pbe,pbe", "pbe"),
        ("gga_x_pbe,gga_c_pbe", "pbe"),
        ("b88,lyp", "blyp"),
        ("bp86", "bp"),
        ("b3lyp5", "b3lyp"),
        ("pbeh", "pbe0"),
        ("wb97x", "wb97x-2008"),
        ("b97m", "b97m"),
        ("torch-pbe", "pbe"),
    ],
)
def test_spellings_reach_the_right_row(spelling, row):
    assert d4_parameters(spelling).functional == row


@pytest.mark.parametrize(
    ("functional", "match"),
    [
        ("lda,vwn", r"'lda,vwn'.*dispersion=\{'s8'"),
        ("b97m-v", "VV10"),
        ("nonsense", "'nonsense'"),
        ("r2scan-3c", "'r2scan-3c'"),
    ],
)
def test_a_functional_without_parameters_is_a_clear_error(functional, match):
    with pytest.raises(ValueError, match=match):
        d4_parameters(functional)


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ({"s8": 1.0, "a1": 0.4}, "lack a2"),
        ({"s8": 1.0, "a1": 0.4, "a2": 5.0, "s10": 1.0}, "'s10'"),
        ({"s8": float("nan"), "a1": 0.4, "a2": 5.0}, "s8 must be finite"),
        ({"s8": 1.0, "a1": -0.1, "a2": 5.0}, "a1"),
        ({"s8": "x", "a1": 0.4, "a2": 5.0}, "s8 must be a number"),
        ({"s8": 1.0, "a1": 0.4, "a2": 5.0, "alp": 0}, "alp"),
    ],
)
def test_bad_explicit_parameters_are_rejected(values, match):
    with pytest.raises(ValueError, match=match):
        d4_parameters(values)


def test_parameters_round_trip_through_json():
    params = d4_parameters("b3lyp")
    data = json.loads(json.dumps(params.as_dict()))
    assert set(data) == {"s6", "s8", "a1", "a2", "s9", "alp", "functional", "source"}
    assert D4Parameters.from_dict(data) == params
    assert data["s8"] == 2.02929367 and data["a1"] == 0.40868035 and data["a2"] == 4.53807137  # dftd4's table


def test_the_shipped_functional_takes_r2scan_parameters():
    shipped, r2scan = d4_parameters("nnxc"), d4_parameters("r2scan")
    assert shipped.as_dict() | {"source": ""} == r2scan.as_dict() | {"source": ""}
    assert "base functional 'r2scan' of 'nnxc'" in shipped.source
    assert NNXC(xc="nnxc", dispersion="d4").dispersion_parameters == shipped


STORED = {"s6": 1.0, "s8": 0.71, "a1": 0.42, "a2": 5.3, "s9": 1.0, "alp": 16.0, "functional": "toy", "source": "fit"}


def _checkpoint(path, base, dispersion=None):
    functional = build_functional("nn-lda", {"hidden": [3]}, base)
    meta = {"model": "nn-lda", "options": {"hidden": [3]}, "base": base, "basis": "sto-3g"}
    if dispersion is not None:
        meta["dispersion"] = dispersion
    save_checkpoint(path, functional, meta)
    return str(path)


def test_a_checkpoint_with_stored_parameters_gets_those(tmp_path):
    path = _checkpoint(tmp_path / "toy.pt", "pbe", {"model": "d4", "parameters": STORED})
    params = d4_parameters(path)
    assert (params.s8, params.a1, params.a2, params.functional) == (0.71, 0.42, 5.3, "toy")
    assert "stored with the weights" in params.source and "toy.pt" in params.source
    assert NNXC(xc=path, dispersion="d4").dispersion_parameters == params
    # Without stored parameters the same model on PBE takes PBE's; on LDA there are none.
    assert d4_parameters(_checkpoint(tmp_path / "bare.pt", "pbe")).s8 == d4_parameters("pbe").s8
    with pytest.raises(ValueError, match="stores no D4 parameters.*'lda,vwn'"):
        d4_parameters(_checkpoint(tmp_path / "lda.pt", "lda,vwn"))
    with pytest.raises(ValueError, match="toy.pt.*stored dispersion"):
        d4_parameters(_checkpoint(tmp_path / "toy.pt", "pbe", {"model": "d3", "parameters": STORED}))


def test_training_config_writes_the_parameters_into_the_checkpoint(tmp_path):
    import yaml

    from ase_nnxc.train.config import ConfigError, TrainConfig
    from ase_nnxc.train.trainer import Trainer

    example = Path(__file__).parents[1] / "examples" / "data" / "deepchem_example.yaml"
    entries = yaml.safe_load(example.read_text())
    for system in (s for entry in entries for s in entry["systems"]):
        system["basis"] = "sto-3g"
    data = tmp_path / "data.yaml"
    data.write_text(yaml.safe_dump(entries))

    def write_config(tmp_path, data, **extra):
        path = tmp_path / "config.yaml"
        config = {
            "train": str(data),
            "model": {"name": "nn-lda", "options": {"hidden": [3]}},
            "base": "lda,vwn",
            "epochs": 0,
            "output": str(tmp_path / "run"),
            **extra,
        }
        path.write_text(yaml.safe_dump(config))
        return path

    explicit = {"s8": 0.5, "a1": 0.4, "a2": 5.0}
    trainer = Trainer(TrainConfig.from_yaml(write_config(tmp_path, data, dispersion=explicit)), progress=False)
    params = d4_parameters(str(trainer.save("weights.pt", with_state=False)))
    assert (params.s8, params.a1, params.a2) == (0.5, 0.4, 5.0) and "training config" in params.source
    config = TrainConfig.from_yaml(write_config(tmp_path, data, base="pbe", dispersion="d4"))
    assert config.dispersion_metadata()["parameters"]["s8"] == d4_parameters("pbe").s8
    path = write_config(tmp_path, data, dispersion="d4")  # base lda,vwn: no table row
    with pytest.raises(ConfigError, match=r"config\.yaml: dispersion: No D4 parameters"):
        TrainConfig.from_yaml(path)
    assert yaml.safe_load(path.read_text())["dispersion"] == "d4"


# He2 near its van der Waals distance, off-axis so that every force component is non-zero:
# the D4 attraction and the Kohn-Sham repulsion are of the same size.
HE2 = Atoms("He2", positions=[(0.0, 0.0, 0.0), (0.4, 0.7, 2.5)])
FAST = {"basis": "6-31g", "grid_level": 2, "conv_tol": 1e-12}


def test_calculator_adds_d4_to_energy_and_forces():
    atoms, bare = HE2.copy(), HE2.copy()
    atoms.calc = NNXC(xc="pbe", dispersion="d4", **FAST)
    bare.calc = NNXC(xc="pbe", **FAST)
    reference_energy, reference_gradient = _reference(HE2, 0, method="pbe")
    difference = atoms.get_potential_energy() - bare.get_potential_energy()
    assert difference == pytest.approx(reference_energy * HARTREE_TO_EV, abs=1e-9)
    assert atoms.calc.dispersion_energy == pytest.approx(reference_energy * HARTREE_TO_EV, abs=1e-12)
    forces = atoms.get_forces() - bare.get_forces()
    assert np.abs(forces + reference_gradient * HARTREE_TO_EV / BOHR_TO_ANGSTROM).max() < 1e-8
    assert atoms.calc.dispersion_parameters.functional == "pbe"
    assert bare.calc.dispersion_energy is None and bare.calc.dispersion_parameters is None


def test_calculator_forces_with_d4_equal_central_differences():
    atoms = HE2.copy()
    atoms.calc = NNXC(xc="pbe", dispersion="d4", **FAST)
    forces = atoms.get_forces()
    step = 1e-3  # Angstrom
    numeric = np.zeros_like(forces)
    for index in np.ndindex(*forces.shape):
        energies = []
        for sign in (1, -1):
            moved = atoms.copy()
            moved.calc = atoms.calc  # warm starts from the last density
            moved.positions[index] += sign * step
            energies.append(moved.get_potential_energy())
        numeric[index] = -(energies[0] - energies[1]) / (2 * step)
    dispersion = -_reference(HE2, 0, method="pbe")[1] * HARTREE_TO_EV / BOHR_TO_ANGSTROM
    error = np.abs(numeric - forces).max()
    assert error < 2e-6  # eV/Angstrom
    assert np.abs(dispersion).min() > 50 * error  # D4 is far larger than the check's error


def test_calculator_passes_the_charge_to_d4():
    atoms = molecule("H2O")
    atoms.calc = NNXC(xc="pbe", basis="sto-3g", grid_level=1, charge=1, spin=1, dispersion="d4")
    atoms.get_potential_energy()
    reference = _reference(atoms, 1, method="pbe")[0] * HARTREE_TO_EV
    assert atoms.calc.dispersion_energy == pytest.approx(reference, abs=1e-12)


def test_calculator_takes_explicit_parameters():
    calc = NNXC(xc="lda,vwn", dispersion={"s8": 0.5, "a1": 0.4, "a2": 5.0})
    assert (calc.dispersion_parameters.s8, calc.dispersion_parameters.source) == (0.5, "explicit parameters")
    pbe = d4_parameters("pbe")
    calc = NNXC(xc="lda,vwn", dispersion=pbe)
    assert calc.dispersion_parameters == pbe
    assert json.loads(json.dumps(calc.parameters["dispersion"])) == pbe.as_dict()  # ASE trajectories store it


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"xc": "lda,vwn", "dispersion": "d4"}, "'lda,vwn'"),
        ({"dispersion": "d3"}, "'d3'"),
        ({"dispersion": {"s8": 1.0}}, "dispersion=.*lack a1, a2"),
    ],
)
def test_bad_dispersion_is_an_input_error_when_given(params, match):
    with pytest.raises(InputError, match=match):
        NNXC(**params)
    calc = NNXC()
    with pytest.raises(InputError, match=match):
        calc.set(**params)


def test_command_line_reports_d4_and_its_parameters(tmp_path, capsys):
    atoms = HE2.copy()
    path = tmp_path / "he2.xyz"
    write(path, atoms)
    options = ["--xc", "pbe", "--basis", "6-31g", "--grid-level", "2", "--conv-tol", "1e-12"]
    assert main(["forces", str(path), *options, "--dispersion", "d4", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    atoms.calc = NNXC(xc="pbe", dispersion="d4", **FAST)
    assert record["energy_eV"] == pytest.approx(atoms.get_potential_energy(), abs=1e-8)
    assert np.abs(np.array(record["forces_eV_per_A"]) - atoms.get_forces()).max() < 1e-7
    assert record["dispersion"]["energy_eV"] == pytest.approx(atoms.calc.dispersion_energy, abs=1e-12)
    assert record["dispersion"]["parameters"] == d4_parameters("pbe").as_dict()
    assert main(["energy", str(path), *options, "--dispersion", "d4"]) == 0
    text = capsys.readouterr().out
    assert "D4 dispersion included" in text and "s8=0.95948085" in text and "method 'pbe'" in text
    assert main(["energy", str(path), *options]) == 0
    assert "D4" not in capsys.readouterr().out

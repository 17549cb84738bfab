"""`nnxc export --format torchscript`: the artefact reproduces the functional and is pinned by SHA-256."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
from ase.build import molecule
from ase.calculators.calculator import InputError

from ase_nnxc import NNXC
from ase_nnxc.cli import main
from ase_nnxc.pyscf import make_ks
from ase_nnxc.units import HARTREE_TO_EV
from ase_nnxc.xc import FeatureMap, LibXCFunctional, get_functional
from ase_nnxc.xc.neural import HybridXC, NeuralMetaGGA
from ase_nnxc.xc.torchscript import (
    TorchScriptError,
    TorchScriptFunctional,
    export_torchscript,
    load_torchscript,
    random_features,
    sidecar_path,
)

ROOT = Path(__file__).resolve().parents[2]
MODEL = "nnxc-pbe-2026.12"


@pytest.fixture(scope="module")
def artefact(tmp_path_factory):
    path = tmp_path_factory.mktemp("export") / "model.pt"
    export_torchscript(get_functional(MODEL), path)
    return path


@pytest.mark.parametrize("nspin", [1, 2])
def test_artefact_reproduces_energy_density_and_potential(artefact, nspin):
    """10,000 random points: energy density to 1e-12 relative, autograd potential to 1e-10."""
    python, loaded = get_functional(MODEL), load_torchscript(artefact)
    features = random_features(nspin, 5, 10_000, torch.Generator().manual_seed(nspin)).requires_grad_(True)
    expected, got = python(FeatureMap(features)), loaded(FeatureMap(features))
    assert ((got - expected).abs() / expected.abs()).max() <= 1e-12
    (v_expected,) = torch.autograd.grad(expected.sum(), features)
    (v_got,) = torch.autograd.grad(got.sum(), features)
    assert ((v_got - v_expected).abs() / v_expected.abs().clamp(min=1e-30)).max() <= 1e-10


def test_sidecar_records_what_a_consumer_needs(artefact):
    sidecar = json.loads(sidecar_path(artefact).read_text())
    assert sidecar["sha256"] == hashlib.sha256(artefact.read_bytes()).hexdigest()
    assert (sidecar["base"], sidecar["family"], sidecar["nvar"], sidecar["basis"]) == ("pbe", "mgga", 5, "def2-svp")
    assert sidecar["exact_exchange"] == [] and sidecar["dispersion"] is None


def test_one_changed_byte_is_refused(artefact, tmp_path):
    tampered = tmp_path / "tampered.pt"
    shutil.copyfile(artefact, tampered)
    shutil.copyfile(sidecar_path(artefact), sidecar_path(tampered))
    data = bytearray(tampered.read_bytes())
    data[len(data) // 2] ^= 0x01
    tampered.write_bytes(bytes(data))
    with pytest.raises(TorchScriptError, match="does not match .* changed after export"):
        load_torchscript(tampered)
    with pytest.raises(InputError, match="does not match"):
        NNXC(xc=str(tampered))
    sidecar_path(tampered).unlink()
    with pytest.raises(TorchScriptError, match="without its sidecar"):
        get_functional(str(tampered))


def test_calculator_and_pyscf_accept_the_file(artefact):
    """NNXC(xc=FILE) and make_ks(mol, FILE) give the energies of the functional itself."""
    atoms = molecule("H2O")
    atoms.calc = NNXC(xc=str(artefact), basis="sto-3g", conv_tol=1e-11)
    energy = atoms.get_potential_energy() / HARTREE_TO_EV
    mol = atoms.calc.system.to_mole()
    mol.verbose = 0
    with pytest.warns(UserWarning, match="trained in def2-svp"):  # the sidecar's basis travels too
        ours = make_ks(mol, str(artefact))
    with pytest.warns(UserWarning, match="trained in def2-svp"):
        reference = make_ks(mol, MODEL)
    assert isinstance(ours._numint.functional, TorchScriptFunctional)
    dm = atoms.calc.scf_result.density[0].numpy()
    assert ours.energy_tot(dm) == pytest.approx(reference.energy_tot(dm), abs=1e-10)
    assert reference.energy_tot(dm) == pytest.approx(energy, abs=1e-9)


def test_d4_parameters_of_the_artefact_are_those_of_the_functional(artefact):
    """No stored D4 parameters: both take their base's (PBE) from dftd4's table."""
    from ase_nnxc.dispersion import d4_parameters

    ours, reference = d4_parameters(load_torchscript(artefact)).as_dict(), d4_parameters(MODEL).as_dict()
    assert {k: ours[k] for k in ("s6", "s8", "a1", "a2")} == {k: reference[k] for k in ("s6", "s8", "a1", "a2")}


def test_hybrid_base_exchange_and_dispersion_travel_in_the_sidecar(tmp_path):
    functional = HybridXC(LibXCFunctional("b3lyp"), NeuralMetaGGA(hidden=(4,), seed=1), a=0.3)
    functional.dispersion = {"model": "d4", "parameters": {"s8": 1.0}}
    path = tmp_path / "b3lyp-nn.pt"
    sidecar = export_torchscript(functional, path)
    assert sidecar["exact_exchange"] == [{"coefficient": pytest.approx(0.2), "omega": 0.0}]
    loaded = load_torchscript(path)
    assert loaded.exchange_terms() == functional.exchange_terms()
    assert loaded.dispersion == functional.dispersion
    features = random_features(2, 5, 500, torch.Generator().manual_seed(5))
    expected = functional(FeatureMap(features)).detach()
    assert ((loaded(FeatureMap(features)) - expected).abs() / expected.abs()).max() <= 1e-12


def test_export_refuses_what_it_cannot_represent(tmp_path):
    with pytest.raises(TorchScriptError, match="not a trained hybrid"):
        export_torchscript(get_functional("pbe"), tmp_path / "x.pt")
    anchored = HybridXC(LibXCFunctional("pbe"), NeuralMetaGGA(hidden=(4,), lda_anchor=True))
    with pytest.raises(TorchScriptError, match="lda_anchor"):
        export_torchscript(anchored, tmp_path / "x.pt")
    assert not (tmp_path / "x.pt").exists()


def test_cli_export(tmp_path, capsys):
    output = tmp_path / "cli.pt"
    assert main(["export", MODEL, "-o", str(output), "--format", "torchscript"]) == 0
    assert output.is_file() and sidecar_path(output).is_file()
    assert "sha256" in capsys.readouterr().out
    assert main(["export", "pbe", "-o", str(tmp_path / "y.pt")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("nnxc export: error: MODEL 'pbe'") and "\n" not in error


@pytest.mark.slow
def test_torch_only_environment_and_libtorch():
    """benchmarks/torchscript_standalone.py: a venv with torch alone (created if missing) and the C++ example."""
    venv = Path(os.environ.get("ASE_NNXC_TORCH_VENV", "/tmp/tsvenv"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        command = [
            sys.executable,
            str(ROOT / "benchmarks" / "torchscript_standalone.py"),
            "--venv",
            str(venv),
            "--create",
        ]
        if shutil.which("g++"):
            command.append("--cxx")
        result = subprocess.run(command, capture_output=True, text=True, timeout=3000)
    # PASS: <= 1e-12 relative on 10,000 points per spin layout, the changed byte refused, and
    # (with g++) the LibTorch program's energy densities and derivatives equal ase_nnxc's.
    assert result.returncode == 0 and "PASS" in result.stdout, result.stdout + result.stderr

"""`nnxc benchmark gmtkn55` end to end: energies against PySCF, interrupt and resume, a forced failure."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

import ase_nnxc.scf
from ase_nnxc.benchmarks import scf as benchmark_scf
from ase_nnxc.benchmarks.gmtkn55 import GMTKN55
from ase_nnxc.cli import main
from ase_nnxc.scf.driver import SCFNotConverged
from ase_nnxc.units import HARTREE_TO_KCAL_PER_MOL

ROOT = Path(__file__).parent / "data" / "GMTKN55"
SUBSETS = ["SIE4x4:1,5", "W4-11:1"]  # H2+ -> H + H+, He2+ -> He + He+, H2 -> 2 H
BASIS, GRID = "6-31g", 1


def pyscf_energy(species, xc):
    from pyscf import dft, gto

    mol = gto.M(atom=[(s, tuple(p)) for s, p in zip(species.symbols, species.positions)], unit="Bohr",
                basis=BASIS, charge=species.charge, spin=species.spin, verbose=0)  # fmt: skip
    mf = dft.RKS(mol) if species.spin == 0 else dft.UKS(mol)
    mf.xc, mf.grids.level, mf.conv_tol = xc, GRID, 1e-11
    return mf.kernel()


def reaction_values(out):
    with open(out / "reactions.csv") as f:
        return {(row["subset"], int(row["index"])): row for row in csv.DictReader(f)}


def run(tmp_path, *extra):
    argv = ["benchmark", "gmtkn55", "--data", str(ROOT), "--subset", *SUBSETS, "--xc", "pbe", "lda,vwn",
            "--basis", BASIS, "--grid-level", str(GRID), "--cache", str(tmp_path / "cache"),
            "--out", str(tmp_path / "out"), "--training-pool", "none", *extra]  # fmt: skip
    return main(argv)


def test_benchmark_runs_resumes_and_reports_a_failure(tmp_path, monkeypatch, capsys):
    calls = []
    real_run_species = benchmark_scf.run_species

    def counting(method, species, require_aufbau=True):
        calls.append((method.xc, species.name))
        if interrupt_after is not None and len(calls) > interrupt_after:
            raise KeyboardInterrupt
        return real_run_species(method, species, require_aufbau)

    monkeypatch.setattr("ase_nnxc.benchmarks.runner.run_species", counting)

    # 1. Interrupted after two species: both are on disk.
    interrupt_after = 2
    assert run(tmp_path) == 130
    (cache_file,) = (tmp_path / "cache").glob("nnxc-pbe-*.json")
    assert len(json.loads(cache_file.read_text())["species"]) == 2

    # 2. Resumed, with He2+ unable to converge under LDA: every fallback is tried, then it is reported.
    real_run_scf = ase_nnxc.scf.run_scf

    def failing(ks, guess=None):
        if ks.functional.name == "lda,vwn" and ks.system.numbers == (2, 2):
            raise SCFNotConverged("SCF did not converge for HeHe with lda,vwn after 7 cycles: forced", 1.0, 1.0)
        return real_run_scf(ks, guess)

    monkeypatch.setattr(ase_nnxc.scf, "run_scf", failing)
    interrupt_after, calls[:] = None, []
    assert run(tmp_path) == 0
    assert len(calls) == 2 * 6 - 2  # six distinct species (H occurs in both subsets), two were done
    out = tmp_path / "out"
    assert all((out / name).is_file() for name in
               ("report.md", "reactions.csv", "summary.csv", "subsets.csv", "species.csv", "categories.png"))  # fmt: skip
    report = (out / "report.md").read_text()
    assert "On the 2 of 3 reactions that every method has" in report
    assert "lda,vwn: 1 of 7 species, so 1 reactions have no value" in report
    assert (
        "`SIE4x4/he2+_1.0`: SCFNotConverged: no attempt converged (default, atom guess, damped, non-aufbau)" in report
    )
    with open(out / "species.csv") as f:
        failed = [r for r in csv.DictReader(f) if r["method"] == "lda,vwn" and r["species"] == "SIE4x4/he2+_1.0"]
    assert failed[0]["energy"] == "" and failed[0]["cycles"] == "28"  # 4 attempts x 7 cycles

    # Reaction energies are sum_k C_k E_k of PySCF's energies of the same species.
    data = GMTKN55(ROOT)
    rows = reaction_values(out)
    for subset, index in (("SIE4x4", 1), ("SIE4x4", 5), ("W4-11", 1)):
        reaction = data.reactions(subset)[index - 1]
        for xc in ("pbe", "lda,vwn"):
            expected = sum(c * pyscf_energy(data.species(s), xc) for s, c in reaction.components)
            if xc == "lda,vwn" and index == 5:
                assert rows[subset, index][xc] == ""  # listed as failed, not dropped
                continue
            assert float(rows[subset, index][xc]) == pytest.approx(expected * HARTREE_TO_KCAL_PER_MOL, abs=1e-5)

    # 3. Everything is cached: nothing is computed, the failure is still reported.
    monkeypatch.setattr(ase_nnxc.scf, "run_scf", real_run_scf)
    calls[:] = []
    assert run(tmp_path) == 0
    assert calls == [] and reaction_values(out) == rows

    # 4. --retry-failed runs the failed species again, and only it.
    assert run(tmp_path, "--retry-failed") == 0
    assert calls == [("lda,vwn", "SIE4x4/he2+_1.0")]
    assert reaction_values(out)["SIE4x4", 5]["lda,vwn"] != ""
    assert "On the 3 of 3 reactions" in (out / "report.md").read_text()


def test_bad_input_is_one_line_with_status_2(tmp_path, capsys):
    argv = ["benchmark", "gmtkn55", "--data", str(ROOT), "--subset", "RG18", "--xc", "pbe", "--basis", "6-31g",
            "--cache", str(tmp_path), "--plan"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "RG18/kr" in err and "struc.xyz" in err and "element Kr" in err
    assert main(["benchmark", "gmtkn55", "--data", str(tmp_path / "none"), "--plan"]) == 2
    assert "no such GMTKN55 directory" in capsys.readouterr().err
    assert main(["benchmark", "gmtkn55", "--data", str(ROOT), "--subset", "NOPE", "--plan"]) == 2
    assert "'NOPE' is not a GMTKN55 subset" in capsys.readouterr().err
    for option in ("--xc", "--pyscf"):
        assert main(["benchmark", "gmtkn55", "--data", str(ROOT), "--subset", "RG18", option, "nosuchxc"]) == 2
        assert f"{option} nosuchxc:" in capsys.readouterr().err


def test_plan_lists_species_by_cost_without_scf(capsys, monkeypatch):
    monkeypatch.setattr("ase_nnxc.benchmarks.runner.run_species", lambda *a: pytest.fail("an SCF ran"))
    assert (
        main(["benchmark", "gmtkn55", "--data", str(ROOT), "--subset", "RG18", "--basis", "def2-tzvp", "--plan"]) == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert "RG18: 18 reactions, 25 species" in lines[0].replace("GMTKN55 RG18", "RG18")
    naos = [int(line.split()[-2]) for line in lines[2:-1]]
    assert naos == sorted(naos) and naos[0] == 31  # Ne in def2-TZVP: [4s3p2d1f]


def test_d4_energies_are_dftd4s_and_switching_dispersion_reuses_the_scf(tmp_path, monkeypatch):
    from dftd4.interface import DampingParam, DispersionModel

    from ase_nnxc.benchmarks.reactions import Reaction, ReactionSet
    from ase_nnxc.benchmarks.runner import Method, Runner

    data = GMTKN55(ROOT)
    names = ("W4-11/h2o", "SIE4x4/h2+_1.0")  # neutral, and a cation
    reactions = [Reaction("T", i, ((n, 1),), 0.0) for i, n in enumerate(names, start=1)]
    reaction_set = ReactionSet("t", reactions, {n: data.species(n) for n in names})
    method = Method("pbe", "pyscf", BASIS, GRID)
    with_d4 = Runner(method, tmp_path, dispersion="d4", progress=False).energies(reaction_set)
    monkeypatch.setattr("ase_nnxc.benchmarks.runner.run_species", lambda *a: pytest.fail("an SCF ran again"))
    plain = Runner(method, tmp_path, progress=False).energies(reaction_set)
    for name in names:
        species = data.species(name)
        model = DispersionModel(np.array(species.numbers), species.positions, species.charge)
        reference = model.get_dispersion(DampingParam(method="pbe"), grad=False)["energy"]
        assert with_d4[name] - plain[name] == pytest.approx(reference, abs=1e-12)
        assert reference < 0


def test_remaining_time_scales_with_the_square_of_the_basis_size():
    from ase_nnxc.benchmarks.runner import estimate_rest

    # exact for t = 3 nao^2, whatever the small species cost
    naos = [6, 10, 20, 40]
    seconds = [50.0, 1.0, 3.0 * 20**2, 3.0 * 40**2]
    assert estimate_rest(naos, seconds, [80, 160]) == pytest.approx(3.0 * (80**2 + 160**2))
    # the larger half only (30 and 40 functions), through the geometric mean of t / nao^2: (2 * 8)^(1/2) = 4
    assert estimate_rest([10, 20, 30, 40], [99.0, 99.0, 2.0 * 30**2, 8.0 * 40**2], [100]) == pytest.approx(4.0 * 100**2)
    assert estimate_rest(naos, seconds, []) == 0.0
    assert estimate_rest([], [], [10]) == 0.0

"""The ``nnxc`` command: help texts, results equal to the calculator's, exit statuses."""

import json
import re
import subprocess
import sys
from importlib.metadata import entry_points

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule
from ase.io import read, write

from ase_nnxc import NNXC
from ase_nnxc.cli import EXIT_USAGE, SUBCOMMANDS, build_parser, main
from ase_nnxc.cli_commands.common import DEFAULT_BASIS

# A minimal basis and coarse grid keep each SCF around a second; the command line only
# passes options through, so what matters is that it gives the calculator's numbers.
FAST = ["--basis", "sto-3g", "--grid-level", "1"]
FAST_PARAMS = {"basis": "sto-3g", "grid_level": 1}


@pytest.fixture
def water_file(tmp_path):
    atoms = molecule("H2O")
    atoms.positions[1] += (0.0, 0.08, 0.04)
    path = tmp_path / "water.xyz"
    write(path, atoms)
    return path


def _calculator_result(path, forces=True, **params):
    # As the commands do: forces first (one SCF converged for forces), or the energy alone.
    atoms = read(path)
    atoms.calc = NNXC(xc="pbe", **FAST_PARAMS, **params)
    return atoms.get_forces() if forces else None, atoms.get_potential_energy(), atoms.get_dipole_moment()


def test_console_script_is_declared():
    (script,) = [ep for ep in entry_points(group="console_scripts") if ep.name == "nnxc"]
    assert script.value == "ase_nnxc.cli:main"


def test_top_level_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    names = [__import__(module, fromlist=["NAME"]).NAME for module in SUBCOMMANDS]
    assert names[:3] == ["energy", "forces", "optimize"]
    for name in names:
        assert re.search(rf"^\s+{name}\s+\S", text, re.MULTILINE), name
    assert "Exit status" in text


@pytest.mark.parametrize("command", ["energy", "forces", "optimize"])
def test_command_help_documents_every_option_with_its_default(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    defaults = NNXC.default_parameters
    for option, default in [
        ("--xc", defaults["xc"]),
        ("--basis", DEFAULT_BASIS),  # the calculator default None means "the checkpoint's or def2-svp"
        ("--grid-level", 3),  # the calculator default None means "the checkpoint's or 3"
        ("--max-cycle", defaults["max_cycle"]),
        ("--conv-tol", f"{defaults['conv_tol']:g}"),
    ]:
        assert option in text
        assert re.search(rf"{option} \S+ .*?\(default: {re.escape(str(default))}\)", text), option
    for option in ("--charge", "--spin", "--format", "--index"):
        assert option in text
    if command == "optimize":
        for option in ("--optimizer {bfgs,lbfgs}", "--fmax", "--steps", "--trajectory", "--output"):
            assert option in text
    else:
        assert "--json" in text


def test_parser_has_a_subcommand_per_registry_entry():
    parser = build_parser()
    (group,) = [a for a in parser._actions if a.dest == "command"]
    assert len(group.choices) == len(SUBCOMMANDS)


def test_printed_energy_equals_the_calculator_energy(water_file, capsys):
    assert main(["energy", str(water_file), *FAST]) == 0
    text = capsys.readouterr().out
    printed = float(re.search(r"energy\s+(-?\d+\.\d+) eV", text).group(1))
    _, energy, dipole = _calculator_result(water_file, forces=False)
    assert printed == pytest.approx(energy, abs=2e-9)
    assert "pbe/sto-3g" in text
    assert "SCF cycles" in text
    printed_dipole = [float(x) for x in re.search(r"dipole\s+(\S+) (\S+) (\S+) e\*Angstrom", text).groups()]
    assert np.abs(np.array(printed_dipole) - dipole).max() < 2e-6


def test_forces_as_json_equal_the_calculator_forces(water_file, capsys):
    assert main(["forces", str(water_file), "--json", *FAST]) == 0
    record = json.loads(capsys.readouterr().out)
    forces, energy, dipole = _calculator_result(water_file)
    assert record["energy_eV"] == pytest.approx(energy, abs=1e-8)
    assert np.abs(np.array(record["forces_eV_per_A"]) - forces).max() < 1e-7
    assert record["fmax_eV_per_A"] == pytest.approx(np.linalg.norm(forces, axis=1).max(), abs=1e-7)
    assert np.abs(np.array(record["dipole_eA"]) - dipole).max() < 1e-8
    assert (record["charge"], record["spin"], record["scf_cycles"] > 0) == (0, 0, True)


@pytest.mark.parametrize(
    ("name", "options", "params"),
    [
        # H2O+ has a non-degenerate singly occupied orbital, so the UKS state is unique.
        ("H2O", ["--charge", "1", "--spin", "1"], {"charge": 1, "spin": 1}),
        ("OH", ["--charge", "-1"], {"charge": -1}),
    ],
)
def test_charge_and_spin_reach_the_calculator(tmp_path, capsys, name, options, params):
    path = tmp_path / f"{name}.xyz"
    write(path, molecule(name) if name == "H2O" else Atoms("OH", positions=[(0, 0, 0), (0, 0, 0.97)]))
    assert main(["energy", str(path), "--json", *options, *FAST]) == 0
    record = json.loads(capsys.readouterr().out)
    _, energy, _ = _calculator_result(path, forces=False, **params)
    assert record["energy_eV"] == pytest.approx(energy, abs=1e-8)
    assert (record["charge"], record["spin"]) == (params.get("charge", 0), params.get("spin", 0))


def test_break_symmetry_reaches_the_calculator_and_reports_spin_contamination(tmp_path, capsys):
    path = tmp_path / "h2.xyz"
    write(path, Atoms("H2", positions=[(0, 0, 0), (0, 0, 2.5)]))
    records = []
    for options in ([], ["--break-symmetry"]):
        assert main(["energy", str(path), "--json", *options, *FAST]) == 0
        records.append(json.loads(capsys.readouterr().out))
    _, energy, _ = _calculator_result(path, forces=False, break_symmetry=True)

    assert records[1]["energy_eV"] == pytest.approx(energy, abs=1e-8)
    assert records[0]["energy_eV"] - energy > 0.5  # the restricted energy of a stretched bond
    assert "spin_square" not in records[0] and records[1]["spin_square"] > 0.5


def test_optimize_prints_progress_and_writes_the_trajectory(water_file, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["optimize", str(water_file), "--fmax", "0.05", *FAST]) == 0
    text = capsys.readouterr().out
    rows = [line.split() for line in text.splitlines() if re.match(r"^\s+\d+\s+-\d", line)]
    trajectory = read(tmp_path / "water_opt.traj", index=":")
    assert len(rows) == len(trajectory) >= 3
    assert [int(row[0]) for row in rows] == list(range(len(rows)))
    assert all(int(row[3]) > 0 for row in rows)  # SCF cycles
    energies = [float(row[1]) for row in rows]
    assert energies[-1] < energies[0]
    assert energies[-1] == pytest.approx(trajectory[-1].get_potential_energy(), abs=1e-7)
    final = read(tmp_path / "water_opt.xyz")
    fmax = np.linalg.norm(final.get_forces(), axis=1).max()
    assert fmax < 0.05
    assert float(rows[-1][2]) == pytest.approx(fmax, abs=1e-5)
    assert "converged" in text


def test_optimize_that_runs_out_of_steps_exits_with_1(water_file, tmp_path, capsys):
    trajectory = tmp_path / "short.traj"
    status = main(
        ["optimize", str(water_file), "--optimizer", "LBFGS", "--steps", "1", "--trajectory", str(trajectory),
         "--output", str(tmp_path / "short.xyz"), *FAST]
    )
    assert status == 1
    assert "not converged" in capsys.readouterr().err
    assert len(read(trajectory, index=":")) == 2


@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        (lambda tmp, water: ["energy", str(tmp / "missing.xyz")], r"missing\.xyz: no such file"),
        (lambda tmp, water: ["forces", str(_garbage(tmp))], r"cannot read a structure from .*garbage\.xyz"),
        (lambda tmp, water: ["energy", str(water), "--xc", "pbee"], r"InputError: .*'pbee'"),
        (lambda tmp, water: ["energy", str(water), "--spin", "1"], r"InputError: .*spin 2S = 1"),
        (lambda tmp, water: ["energy", str(water), "--grid-level", "12"], r"InputError: grid_level.*12"),
        (lambda tmp, water: ["energy", str(_hydrogen_iodide(tmp)), "--basis", "6-31g"], r"'6-31g'.*not found for I"),
        (lambda tmp, water: ["optimize", str(_two_images(tmp)), "--index", ":"], r"one structure.*selects 2"),
        (lambda tmp, water: ["energy", str(water), "--max-cycle", "1", *FAST], r"SCFError: SCF did not converge"),
    ],
)
def test_bad_input_is_one_line_on_stderr_with_status_2(make_args, message, tmp_path, water_file, capsys):
    assert main(make_args(tmp_path, water_file)) == EXIT_USAGE
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("nnxc ") and ": error: " in lines[0]
    assert re.search(message, lines[0]), lines[0]


def _two_images(tmp_path):
    path = tmp_path / "two.xyz"
    write(path, [molecule("H2O"), molecule("H2O")])
    return path


def _hydrogen_iodide(tmp_path):
    path = tmp_path / "hi.xyz"
    write(path, Atoms("HI", positions=[(0, 0, 0), (0, 0, 1.6)]))
    return path


def _garbage(tmp_path):
    path = tmp_path / "garbage.xyz"
    path.write_text("this is not\na structure\n")
    return path


def test_command_line_exits_with_2_and_no_traceback(tmp_path):
    missing = tmp_path / "missing.xyz"
    result = subprocess.run(
        [sys.executable, "-m", "ase_nnxc", "energy", str(missing)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == EXIT_USAGE
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == f"nnxc energy: error: cannot read {missing}: no such file"

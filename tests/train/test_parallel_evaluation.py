"""nnxc evaluate and the label builder under torchrun: the systems shared dynamically over 2 ranks,
the same table and labels as one process, and a rerun that takes everything from the shared cache."""

import os
import subprocess
import sys

import numpy as np
import pytest
import yaml
from test_parallel_training import deepchem_sto3g, torchrun


@pytest.mark.slow
def test_two_ranks_evaluate_what_one_process_evaluates_and_a_rerun_only_reads_the_cache(tmp_path):
    data = deepchem_sto3g(tmp_path)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    command = ["evaluate", "pbe", str(data), "--grid-level", "1"]
    serial = subprocess.run([sys.executable, "-m", "ase_nnxc", *command], env=env, capture_output=True, text=True)
    assert serial.returncode == 0, serial.stderr[-2000:]
    cache = tmp_path / "pbe.jsonl"
    first = torchrun(["--standalone"], *command, "--cache", str(cache))
    assert first.returncode == 0, first.stderr[-2000:]
    assert first.stdout == serial.stdout  # rank 0 alone prints, the table of one process
    lines = cache.read_text().splitlines()
    assert len(lines) == 5  # LiH, Li, H, N, N+, each converged once by one of the ranks
    again = torchrun(["--standalone"], *command, "--cache", str(cache))
    assert again.stdout == serial.stdout and cache.read_text().splitlines() == lines  # nothing recomputed


@pytest.mark.slow
def test_two_ranks_build_the_labels_one_process_builds(tmp_path):
    molecules = ["--molecules", "H2", "LiH", "H2O", "--basis", "sto-3g"]
    result = torchrun(["--standalone"], str(tmp_path / "two.yaml"), *molecules, module="ase_nnxc.train.labels")
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(list((tmp_path / "ccsd-cache").glob("ccsd-*.npy"))) == 3
    env = dict(os.environ, OMP_NUM_THREADS="1")
    serial = subprocess.run(
        [sys.executable, "-m", "ase_nnxc.train.labels", str(tmp_path / "one.yaml"), *molecules,
         "--cache-dir", str(tmp_path / "fresh-cache")],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert serial.returncode == 0, serial.stderr[-2000:]
    two, one = yaml.safe_load((tmp_path / "two.yaml").read_text()), yaml.safe_load((tmp_path / "one.yaml").read_text())
    assert [e["name"] for e in two] == [e["name"] for e in one] == ["DM H2", "DM LiH", "DM H2O"]
    for a, b in zip(two, one):
        assert np.array_equal(np.load(tmp_path / a["true_val"]), np.load(tmp_path / b["true_val"]))

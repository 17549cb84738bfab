"""`nnxc benchmark gmtkn55` under torchrun: 2 ranks share the species and give one process's figures."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent / "data" / "GMTKN55"
ARGS = ["benchmark", "gmtkn55", "--data", str(ROOT), "--subset", "SIE4x4:1,5", "W4-11:1", "--xc", "pbe",
        "--basis", "6-31g", "--grid-level", "1", "--training-pool", "none"]  # fmt: skip


def reactions(out: Path) -> dict:
    with open(out / "reactions.csv") as f:
        return {(row["subset"], row["index"]): row["pbe"] for row in csv.DictReader(f)}


@pytest.mark.slow
def test_two_ranks_compute_each_species_once_and_report_what_one_process_reports(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    serial = subprocess.run(
        [sys.executable, "-m", "ase_nnxc", *ARGS, "--cache", str(tmp_path / "one"), "--out", str(tmp_path / "one-out")],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert serial.returncode == 0, serial.stderr[-2000:]
    two = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m", "ase_nnxc", *ARGS,
         "--cache", str(tmp_path / "two"), "--out", str(tmp_path / "two-out")],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert two.returncode == 0, two.stderr[-2000:]
    # the same reaction energies (one thread each: the same sums), printed once, by rank 0
    assert reactions(tmp_path / "two-out") == reactions(tmp_path / "one-out")
    assert two.stdout.count("report:") == 1
    (one,), (cache,) = (tmp_path / "one").glob("*.json"), (tmp_path / "two").glob("*.json")
    serial_records, records = (json.loads(f.read_text())["species"] for f in (one, cache))
    assert records.keys() == serial_records.keys() and len(records) >= 6  # every species, none twice
    assert all(records[k]["energy"] == serial_records[k]["energy"] is not None for k in records)

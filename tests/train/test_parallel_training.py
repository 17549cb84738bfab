"""Training under torchrun: 2 gloo ranks train bitwise what one process trains, on every entry type;
resume with another number of ranks; a failing SCF on one rank; kill -9 under --max-restarts; two
agents with a rendezvous (--nnodes 2)."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from test_trainer import small_basis_copy

from ase_nnxc.scf import KohnSham, SCFConfig, run_scf
from ase_nnxc.train.checkpoint import CheckpointError, read_checkpoint
from ase_nnxc.train.config import TrainConfig
from ase_nnxc.train.dataset import Entry, SystemSpec, load_dataset, save_dataset
from ase_nnxc.train.trainer import Trainer
from ase_nnxc.xc import get_functional

EXAMPLE = Path(__file__).parents[2] / "examples" / "data" / "deepchem_example.yaml"
BASIS = "sto-3g"
FAILING_SCF = Path(__file__).with_name("failing_scf.py")


def tiny_dataset(tmp_path):
    """DeepChem's LiH atomisation and N ionisation energies, an H2 force and an H2 density matrix (STO-3G)."""
    entries = [
        Entry(e.e_type, e.true_val, tuple(SystemSpec(s.moldesc, BASIS, s.spin, s.charge, s.number) for s in e.systems))
        for e in load_dataset(EXAMPLE)
    ]
    h2 = SystemSpec("H 0 0 0; H 0 0 1.5", BASIS)
    reference = run_scf(KohnSham(h2.to_system(), get_functional("pbe"), SCFConfig(grid_level=1))).density.sum(0)
    entries += [Entry("force", 0.0, (h2,), name="F H2"), Entry("dm", reference.numpy(), (h2,), name="DM H2")]
    path = tmp_path / "data.yaml"
    save_dataset(entries, path)
    # Validation shares H2 with the training entries and adds the H atom.
    save_dataset([Entry("ae", 0.1744, (h2, SystemSpec("H 0 0 0", BASIS, 1, 0, 2)), name="AE H2")], tmp_path / "valid.yaml")
    return path


def write_config(tmp_path, name, data, **overrides):
    config = {
        "train": str(data),
        "validation": str(data.with_name("valid.yaml")),
        "model": {"name": "nn-lda", "options": {"hidden": [4]}},
        "base": "lda,vwn",
        "loss": {"name": "l2", "weights": {"dm": 10.0, "force": 10.0}},
        "optimizer": {"name": "adam", "lr": 0.02},
        "epochs": 2,
        "batch_size": 2,
        "seed": 0,
        "output": str(tmp_path / name),
        "scf": {"conv_tol": 1e-10, "grid_level": 1},
        "pretrain": {"epochs": 3, "lr": 0.01},
        **overrides,
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@contextlib.contextmanager
def single_threaded():
    """One OpenMP and BLAS thread here, as the torchrun workers (OMP_NUM_THREADS=1) have."""
    from pyscf import lib
    from threadpoolctl import threadpool_limits

    threads, omp = torch.get_num_threads(), lib.num_threads()
    torch.set_num_threads(1)
    lib.num_threads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        torch.set_num_threads(threads)
        lib.num_threads(omp)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def torchrun(launcher, *arguments, script=None, module="ase_nnxc", nproc=2, extra_env=None, popen=False):
    """``torchrun LAUNCHER --nproc-per-node N -m MODULE ARGUMENTS`` (or a script), single-threaded workers."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", **(extra_env or {}))
    target = [str(script)] if script else ["-m", module]
    command = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={nproc}", *launcher, *target, *arguments]
    if popen:
        return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)


def weights(folder):
    return read_checkpoint(Path(folder) / "model.pt")["state_dict"]


def assert_bitwise_equal(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), (key, float((a[key] - b[key]).abs().max()))


def serial_run(config, resume=False, **changes):
    from dataclasses import replace

    with single_threaded():
        trainer = Trainer(replace(TrainConfig.from_yaml(config), **changes), progress=False)
        trainer.run(resume=resume)
    return trainer


def test_two_ranks_train_bitwise_what_one_process_trains_and_one_process_resumes_them(tmp_path):
    # Frozen-density pre-training, then self-consistent epochs of ae, ie, force and dm entries in
    # batches of 2; a validation set. The 2-rank run stops after epoch 1 and a
    # single process finishes it: weights and log equal to the bit those of one process alone.
    data = tiny_dataset(tmp_path)
    result = torchrun(["--standalone"], "train", str(write_config(tmp_path, "two", data)), "--quiet",
                      "--epochs", "1", "--check-replicas")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    straight = serial_run(write_config(tmp_path, "one", data))
    assert straight.failures == 0 and {e.e_type for e in straight.train_entries} == {"ae", "ie", "force", "dm"}
    one_log = (tmp_path / "one" / "log.csv").read_text().splitlines()
    two_log = (tmp_path / "two" / "log.csv").read_text().splitlines()
    assert two_log == one_log[: len(two_log)] and len(two_log) == 3  # header and epoch 1's two steps
    assert read_checkpoint(tmp_path / "two" / "last.pt")["training"]["pretrain_history"] == straight.pretrain_history
    serial_run(write_config(tmp_path, "two", data), resume=True)
    assert_bitwise_equal(weights(tmp_path / "two"), weights(tmp_path / "one"))
    assert (tmp_path / "two" / "log.csv").read_text().splitlines() == one_log


def deepchem_sto3g(tmp_path):
    """DeepChem's example entries in sto-3g (the trainer tests' copy with this file's basis)."""
    return small_basis_copy(tmp_path, BASIS)


@pytest.mark.slow
def test_a_system_failing_on_rank_1_is_left_out_on_both_ranks(tmp_path):
    # One epoch, one entry per step: the system rank 1 converges first fails each time it is
    # converged there. Both ranks finish, the failed entries are counted, and the weights are
    # those of one process in which the same system fails.
    data = deepchem_sto3g(tmp_path)
    record = tmp_path / "failing.txt"
    options = dict(epochs=1, batch_size=1, pretrain={}, validation=None)
    result = torchrun(["--standalone"], "train", str(write_config(tmp_path, "two", data, **options)), "--quiet",
                      script=FAILING_SCF, extra_env={"FAIL_RECORD": str(record), "FAIL_RANK": "1"})  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "skipped this step: SCF not converged (injected by the test)" in result.stderr
    rows = (tmp_path / "two" / "log.csv").read_text().splitlines()[1:]
    assert sum(int(row.split(",")[3]) for row in rows) >= 1
    env = dict(os.environ, OMP_NUM_THREADS="1", FAIL_RECORD=str(record))
    serial = subprocess.run(
        [sys.executable, str(FAILING_SCF), "train", str(write_config(tmp_path, "one", data, **options)), "--quiet"],
        env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert serial.returncode == 0, serial.stderr[-3000:]
    assert_bitwise_equal(weights(tmp_path / "two"), weights(tmp_path / "one"))
    assert (tmp_path / "two" / "log.csv").read_text() == (tmp_path / "one" / "log.csv").read_text()


def _position(path):
    try:
        state = read_checkpoint(path)["training"]
    except CheckpointError:
        return None
    return state["epoch"], state["batch"]


def _worker_of_rank(agent_pid, rank):
    """PID of the torchrun worker with RANK=rank (a child of the agent)."""
    children = subprocess.run(["pgrep", "-P", str(agent_pid)], capture_output=True, text=True).stdout.split()
    for pid in children:
        with contextlib.suppress(OSError):
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            if f"RANK={rank}".encode() in environ:
                return int(pid)
    return None


@pytest.mark.slow
def test_kill_9_of_a_worker_restarts_from_the_checkpoint_and_ends_with_the_uninterrupted_weights(tmp_path):
    data = deepchem_sto3g(tmp_path)
    options = dict(epochs=4, batch_size=1, pretrain={}, validation=None)
    process = torchrun(["--standalone", "--max-restarts=1"], "train", str(write_config(tmp_path, "two", data, **options)),
                       "--quiet", popen=True)  # fmt: skip
    last = tmp_path / "two" / "last.pt"
    deadline, victim = time.time() + 600, None
    while time.time() < deadline and process.poll() is None:
        position = _position(last)
        if position is not None and position >= (1, 1):
            victim = _worker_of_rank(process.pid, 1)
            if victim is not None:
                break
        time.sleep(0.02)
    assert victim is not None, "the run finished before a worker could be killed"
    os.kill(victim, signal.SIGKILL)
    killed_at = _position(last)
    _, stderr = process.communicate(timeout=900)
    # The agent saw the kill and, allowed one restart, still ended the job successfully.
    assert "exitcode: -9" in stderr and process.returncode == 0, stderr[-3000:]
    assert killed_at < (4, 0)
    straight = serial_run(write_config(tmp_path, "one", data, **options))
    assert straight.epoch == 4
    assert_bitwise_equal(weights(tmp_path / "two"), weights(tmp_path / "one"))
    assert (tmp_path / "two" / "log.csv").read_text() == (tmp_path / "one" / "log.csv").read_text()


@pytest.mark.slow
def test_two_agents_with_a_rendezvous_train_what_one_process_trains(tmp_path):
    # Two "machines": two torchrun agents, one worker each, meeting at a c10d rendezvous on 127.0.0.1.
    data = deepchem_sto3g(tmp_path)
    config = write_config(tmp_path, "two", data, epochs=2, batch_size=1, validation=None)
    port = free_port()
    nodes = [
        torchrun(["--nnodes=2", f"--node-rank={rank}", "--rdzv-backend=c10d", f"--rdzv-endpoint=127.0.0.1:{port}",
                  "--rdzv-id=nnxc-test"], "train", str(config), "--quiet", nproc=1, popen=True)
        for rank in range(2)
    ]  # fmt: skip
    for node in nodes:
        _, stderr = node.communicate(timeout=900)
        assert node.returncode == 0, stderr[-3000:]
    serial_run(write_config(tmp_path, "one", data, epochs=2, batch_size=1, validation=None))
    assert_bitwise_equal(weights(tmp_path / "two"), weights(tmp_path / "one"))
    assert (tmp_path / "two" / "log.csv").read_text() == (tmp_path / "one" / "log.csv").read_text()

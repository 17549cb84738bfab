"""Time of what one training step communicates, under torchrun: the inputs of docs/parallel.md's scaling model.

Run: torchrun --standalone --nproc-per-node 2 benchmarks/parallel_communication.py [--systems 90 10000]

For each number of systems S it times (best of ``--repeat``) one step's traffic as the trainer
sends it: the exact gradient sum (:func:`ase_nnxc.parallel.exact_sum`: two ``all_reduce`` of the
parameter vector, ``--params`` numbers, from S/N per-system vectors a rank), the ``all_gather``
of the pass summary (an energy and a time per system), the ``gather`` of the new densities to
rank 0 (S matrices ``--nao`` x ``--nao``), rank 0's checkpoint write of all S densities, and
one Adam step. Rank 0 prints one JSON line per S.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from ase_nnxc import parallel
from ase_nnxc.train.shards import PassSummary, pack, unpack


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        parallel.barrier()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return max(parallel.all_gather(min(times)))  # the slowest rank's best: a step waits for it


def measure(systems: int, args, world) -> dict:
    """One step's traffic for ``systems`` systems, each timed as the best of ``args.repeat``."""
    mine = range(world.rank, systems, world.size)
    vectors = [torch.randn(args.params, dtype=torch.float64) for _ in mine]
    keys = {i: (f"C 0 0 {i}; H 0 0 {i + 1}", "def2-tzvp", 0, 0) for i in mine}
    summary = PassSummary(energies={k: -40.0 - i for i, k in keys.items()}, seconds=dict.fromkeys(keys.values(), 1.0))
    densities = {i: torch.randn(1, args.nao, args.nao, dtype=torch.float64) for i in mine}
    everything = {i: torch.randn(1, args.nao, args.nao, dtype=torch.float64) for i in range(systems)}
    params = [torch.zeros(args.params, dtype=torch.float64, requires_grad=True)]
    optimiser = torch.optim.Adam(params, lr=1e-3)

    def adam_step():
        params[0].grad = torch.ones_like(params[0])
        optimiser.step()

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "last.pt"
        return {
            "ranks": world.size,
            "systems": systems,
            "exact_sum_s": best(lambda: parallel.exact_sum(vectors, args.params), args.repeat),
            "all_gather_summary_s": best(lambda: parallel.all_gather(summary), args.repeat),
            "gather_densities_s": best(
                lambda: [unpack(x) for x in parallel.gather_to_root(pack(densities)) or []], args.repeat
            ),
            "checkpoint_write_s": best(lambda: world.is_root and torch.save(everything, path), args.repeat),
            "adam_step_s": best(adam_step, args.repeat),
        }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", type=int, nargs="+", default=[90, 10000])
    parser.add_argument("--params", type=int, default=122, help="trained parameters (the shipped nn-mgga: 122)")
    parser.add_argument("--nao", type=int, default=52, help="basis functions (the shipped data's mean: 52)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    world = parallel.init()
    for systems in args.systems:
        row = measure(systems, args, world)
        if world.is_root:
            print(json.dumps(row), flush=True)
    parallel.finalize()


if __name__ == "__main__":
    main()

"""Projected parallel efficiency of self-consistent training on many systems (docs/parallel.md's table).

Run: python benchmarks/parallel_scaling.py --measure [--limit 30]   # per-system times -> results/parallel_scaling/
     python benchmarks/parallel_scaling.py [--communication comm.jsonl]   # the table from them

``--measure`` times, with one thread and in CPU seconds (so that a loaded machine does not
inflate them), each of ``--limit`` systems of the shipped recipe's training data (a seeded
sample): the Kohn-Sham setup, a cold r2SCAN SCF (what pre-training's freezing costs) and one
self-consistent training pass of the shipped functional warm-started from that density (SCF,
energy and ``dE/dtheta``: what a training step costs per system once the setups are cached).

The model: one step on ``p`` ranks takes the slowest rank's share of the passes (the trainer's
own longest-processing-time assignment, :func:`ase_nnxc.parallel.assign`, on 10,000 systems
drawn from the measured times) plus the step's communication and rank 0's serial work, each
scaled from what ``benchmarks/parallel_communication.py`` measured on 2 ranks (JSON lines;
the figures in docs/parallel.md are the defaults): the exact gradient sum and the summary
gather grow with ``log2 p``, the density gather to rank 0 and its checkpoint with the number
of systems. Efficiency = T(1) / (p T(p)).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "parallel_scaling"
#: Measured by benchmarks/parallel_communication.py on 2 ranks of this 2-core machine (loopback),
#: 90 and 10,000 systems, seconds per step (see docs/parallel.md).
COMMUNICATION = {
    "exact_sum_s": 0.00255,  # 2 x all_reduce of 122 numbers (latency-bound)
    "all_gather_summary_per_system_s": 0.0440 / 10000,
    "gather_densities_per_system_s": 4.20 / 10000,  # 52 x 52 float64, as NumPy arrays, to rank 0
    "checkpoint_write_per_system_s": 2.77 / 10000,
    "adam_step_s": 0.00027,
}


def measure(limit: int, seed: int) -> list[dict]:
    import torch

    from ase_nnxc.pretrained import load
    from ase_nnxc.scf import KohnSham, SCFConfig, run_scf
    from ase_nnxc.train.dataset import load_dataset
    from ase_nnxc.train.shards import flat_gradient
    from ase_nnxc.xc import get_functional

    torch.set_num_threads(1)
    entries = load_dataset(ROOT / "train" / "data" / "g2_train_h2-w20_def2-tzvp.yaml")
    specs = list({s.key: s for e in entries for s in e.systems}.values())
    specs = random.Random(seed).sample(specs, min(limit, len(specs)))
    config = SCFConfig(grid_level=3, conv_tol=1e-9, max_cycle=200, require_aufbau=False)
    base, trained = get_functional("r2scan"), load("nnxc")
    trained.requires_grad_(True)
    params = [p for p in trained.parameters() if p.requires_grad]
    rows = []
    for spec in specs:
        start = time.process_time()
        ks = KohnSham(spec.to_system(), base, config)
        setup = time.process_time() - start
        cold = run_scf(ks)
        cold_scf = time.process_time() - start - setup
        ks = KohnSham(spec.to_system(), trained, config)
        start = time.process_time()
        result = run_scf(ks, cold.density)
        flat_gradient(ks.energy(result.density)[0], params)
        rows.append(
            {"system": spec.key[0], "nao": ks.nao, "natom": len(ks.system.numbers), "setup_s": setup,
             "cold_scf_s": cold_scf, "pass_s": time.process_time() - start}
        )  # fmt: skip
        print(json.dumps(rows[-1]), flush=True)
    return rows


def step_time(costs: list[float], ranks: int, comm: dict) -> float:
    """Modelled wall time of one full-batch step on ``ranks`` ranks (seconds)."""
    return sum(step_parts(costs, ranks, comm).values())


def step_parts(costs: list[float], ranks: int, comm: dict) -> dict[str, float]:
    """The parts of a step's modelled time: the slowest rank's SCF passes, communication, rank 0's writes.

    ``alpha``, one collective's latency, is half the 2-rank exact sum (two ``all_reduce`` of a
    small vector); a collective on ``p`` ranks takes ``log2 p`` such hops. The per-system costs
    of the summary and density gathers were measured on 2 ranks, where a rank receives half of
    the systems; on ``p`` ranks it receives ``(p - 1) / p`` of them.
    """
    from ase_nnxc import parallel

    systems = len(costs)
    root = comm["adam_step_s"] + systems * comm["checkpoint_write_per_system_s"]
    if ranks == 1:
        return {"passes": sum(costs), "communication": 0.0, "rank 0": root}
    makespan = parallel.makespan(costs, parallel.assign(costs, ranks), ranks)
    alpha, hops, received = comm["exact_sum_s"] / 2, math.log2(ranks), systems * (ranks - 1) / ranks
    communication = 2 * alpha * hops  # the exact gradient sum
    communication += 2 * alpha * hops + received * 2 * comm["all_gather_summary_per_system_s"]
    communication += alpha * hops + received * 2 * comm["gather_densities_per_system_s"]
    return {"passes": makespan, "communication": communication, "rank 0": root}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measure", action="store_true", help="time the systems first (CPU seconds, 1 thread)")
    parser.add_argument("--limit", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--systems", type=int, default=10000)
    parser.add_argument("--ranks", type=int, nargs="+", default=[8, 64, 512])
    parser.add_argument("--communication", help="JSON lines of benchmarks/parallel_communication.py (2 ranks)")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    timings = OUT / "systems.json"
    if args.measure:
        timings.write_text(json.dumps(measure(args.limit, args.seed), indent=1))
    rows = json.loads(timings.read_text())
    comm = dict(COMMUNICATION)
    if args.communication:
        lines = [json.loads(line) for line in Path(args.communication).read_text().splitlines() if line.strip()]
        big = max(lines, key=lambda r: r["systems"])
        comm.update(
            exact_sum_s=min(r["exact_sum_s"] for r in lines),
            adam_step_s=big["adam_step_s"],
            all_gather_summary_per_system_s=big["all_gather_summary_s"] / big["systems"],
            gather_densities_per_system_s=big["gather_densities_s"] / big["systems"],
            checkpoint_write_per_system_s=big["checkpoint_write_s"] / big["systems"],
        )
    passes = [r["pass_s"] for r in rows]
    print(
        f"measured: {len(rows)} systems, pass per system (CPU s, 1 thread) mean {statistics.mean(passes):.2f}, "
        f"median {statistics.median(passes):.2f}, max {max(passes):.2f}; cold SCF mean "
        f"{statistics.mean(r['cold_scf_s'] for r in rows):.2f}, setup mean {statistics.mean(r['setup_s'] for r in rows):.2f}"
    )
    rng = random.Random(args.seed)
    median = statistics.median(passes)
    scenarios = {
        "measured G2 costs": [rng.choice(passes) for _ in range(args.systems)],
        "costs spread 100x": [median * 10 ** rng.uniform(-1, 1) for _ in range(args.systems)],
    }
    giant = list(scenarios["measured G2 costs"])
    giant[0] = 1000 * median
    scenarios["one system 1000x the median"] = giant
    scenarios["steps of 1,000 systems (mini-batches)"] = scenarios["measured G2 costs"][:1000]
    print(f"\n{args.systems} systems a step unless said; efficiency T(1) / (p T(p)), step time T(p) in s")
    print("| costs | " + " | ".join(f"{p} ranks" for p in args.ranks) + " |")
    print("|---|" + "---|" * len(args.ranks))
    for name, costs in scenarios.items():
        serial = step_time(costs, 1, comm)
        cells = []
        for ranks in args.ranks:
            parallel_time = step_time(costs, ranks, comm)
            cells.append(f"{serial / (ranks * parallel_time):.2f} ({parallel_time:.0f} s)")
        print(f"| {name} (T(1) = {serial:.0f} s) | " + " | ".join(cells) + " |")
    for name, costs in scenarios.items():
        ranks = max(args.ranks)
        parts = step_parts(costs, ranks, comm)
        print(
            f"{name}, {ranks} ranks: mean share {sum(costs) / ranks:.1f} s, slowest rank {parts['passes']:.1f} s, "
            f"largest system {max(costs):.1f} s, communication {parts['communication']:.1f} s, "
            f"rank 0's checkpoint {parts['rank 0']:.1f} s"
        )


if __name__ == "__main__":
    main()

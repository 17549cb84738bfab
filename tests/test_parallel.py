"""ase_nnxc.parallel: the assignment functions without processes, the collectives on 2 gloo ranks."""

import itertools
import json
import math
import os
import random
import socket

import pytest
import torch

from ase_nnxc import parallel


def optimal_makespan(costs, size):
    """Brute force over every assignment (small cases only)."""
    return min(parallel.makespan(costs, owners, size) for owners in itertools.product(range(size), repeat=len(costs)))


@pytest.mark.parametrize("size", [2, 3])
def test_assignment_is_within_grahams_bound_of_the_optimum(size):
    rng = random.Random(size)
    for _ in range(30):
        costs = [rng.choice([0.1, 1.0, 10.0]) * rng.random() for _ in range(rng.randint(1, 7))]
        owners = parallel.assign(costs, size)
        assert sorted(set(owners)) <= list(range(size))
        # Longest processing time first: makespan <= (4/3 - 1/(3 m)) x optimum (Graham, 1969).
        bound = (4 / 3 - 1 / (3 * size)) * optimal_makespan(costs, size)
        assert parallel.makespan(costs, owners, size) <= bound + 1e-12


def test_shares_of_all_ranks_partition_the_items_and_balance_the_cost():
    costs = [float(c) for c in (100, 1, 1, 1, 50, 49, 2, 3)]
    items = [f"s{i}" for i in range(len(costs))]
    shares = [parallel.share(items, costs, parallel.World(rank, 2)) for rank in range(2)]
    assert sorted(shares[0] + shares[1]) == sorted(items)
    loads = [sum(costs[items.index(x)] for x in share) for share in shares]
    assert loads == [104.0, 103.0]  # the 100 with the cheap ones, the 50 and 49 together: optimal
    assert parallel.share(items, costs) == items  # serial: everything, in order


def test_exact_sum_is_the_correctly_rounded_sum_whatever_the_order():
    generator = torch.Generator().manual_seed(0)
    scales = 10.0 ** torch.randint(-12, 12, (30, 20), generator=generator)
    terms = list(torch.randn(30, 20, generator=generator, dtype=torch.float64) * scales)
    terms.append(-terms[3])  # exact cancellation of a large term
    total = parallel.exact_sum(terms, 20)
    exact = [math.fsum(float(t[i]) for t in terms) for i in range(20)]
    for value, reference in zip(total.tolist(), exact):
        assert abs(value - reference) <= 2 * math.ulp(reference)
    shuffled = terms[:]
    random.Random(1).shuffle(shuffled)
    assert torch.equal(parallel.exact_sum(shuffled, 20), total)
    naive = sum(shuffled)  # plain float addition does depend on the order here
    assert not torch.equal(naive, sum(terms))


def test_exact_sum_of_nothing_and_of_non_finite_terms():
    assert torch.equal(parallel.exact_sum([], 3), torch.zeros(3, dtype=torch.float64))
    value = parallel.exact_sum([torch.tensor([1.0, math.inf, 2.0], dtype=torch.float64)] * 2, 3)
    assert value[0] == 2.0 and value[1] == math.inf and value[2] == 4.0


def test_serial_dynamic_takes_the_costliest_first_and_map_dynamic_reports_failures_after_all_items():
    assert list(parallel.dynamic(["a", "b", "c", "d"], [1.0, 5.0, 1.0, 3.0])) == ["b", "d", "a", "c"]
    seen = []

    def work(x):
        seen.append(x)
        if x == 2:
            raise ValueError("item 2 is bad")
        return x * x

    assert parallel.map_dynamic(lambda x: x * x, [3, 1, 2], [1.0, 2.0, 3.0]) == [9, 1, 4]
    with pytest.raises(ValueError, match="item 2 is bad"):
        parallel.map_dynamic(work, [1, 2, 3, 4])
    assert sorted(seen) == [1, 2, 3, 4]


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _worker(rank, port, folder):
    os.environ.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1")
    os.environ["MASTER_PORT"] = str(port)
    world = parallel.init()
    out = {"rank": world.rank, "size": world.size}
    generator = torch.Generator().manual_seed(7)
    terms = list(torch.randn(12, 5, generator=generator, dtype=torch.float64) * 1e3**torch.arange(5))
    # Rank 0 sums the first 3 terms, rank 1 the other 9: the same result as all 12 in one process.
    mine = terms[:3] if rank == 0 else terms[3:]
    out["sum"] = parallel.exact_sum(mine, 5).tolist()
    out["claimed"] = list(parallel.dynamic(list(range(20)), [float(i % 7) for i in range(20)]))
    out["squares"] = parallel.map_dynamic(lambda x: x * x, list(range(9)))
    try:
        parallel.map_dynamic(lambda x: 1 / (x - 4), list(range(9)))
    except ZeroDivisionError as err:
        out["error"] = str(err)
    out["gathered"] = parallel.gather_to_root(rank * 10)
    out["scattered"] = parallel.scatter_from_root(["to 0", "to 1"] if rank == 0 else None)
    out["broadcast"] = parallel.broadcast({"from": rank})
    parallel.check_replicas([torch.ones(3)])
    try:
        parallel.check_replicas([torch.full((3,), float(rank))])
    except RuntimeError as err:
        out["replicas"] = str(err)
    parallel.finalize()
    out["serial_sum"] = parallel.exact_sum(terms, 5).tolist()  # serial again: all 12 terms here
    with open(os.path.join(folder, f"rank{rank}.json"), "w") as fh:
        json.dump(out, fh)


def test_collectives_on_two_gloo_ranks(tmp_path):
    torch.multiprocessing.spawn(_worker, args=(_free_port(), str(tmp_path)), nprocs=2)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert [r["rank"] for r in ranks] == [0, 1] and ranks[0]["size"] == 2
    assert ranks[0]["sum"] == ranks[1]["sum"] == ranks[0]["serial_sum"]  # bitwise
    claimed = ranks[0]["claimed"] + ranks[1]["claimed"]
    assert sorted(claimed) == list(range(20))  # each item by exactly one rank
    assert ranks[0]["squares"] == ranks[1]["squares"] == [x * x for x in range(9)]
    assert ranks[0]["error"] == ranks[1]["error"] == "division by zero"
    assert ranks[0]["gathered"] == [0, 10] and ranks[1]["gathered"] is None
    assert [r["scattered"] for r in ranks] == ["to 0", "to 1"]
    assert ranks[0]["broadcast"] == ranks[1]["broadcast"] == {"from": 0}
    assert "rank(s) [1] differ from rank 0" in ranks[0]["replicas"] == ranks[1]["replicas"]

"""Work across processes and machines with ``torch.distributed``: the one module that imports it.

Launch any command under ``torchrun`` (or ``srun``); every process runs the same code and asks
this module who it is (:func:`world`), which items are its own (:func:`assign`, :func:`share`,
:func:`dynamic`, :func:`map_dynamic`), and combines what the processes made (:func:`all_gather`,
:func:`gather_to_root`, :func:`scatter_from_root`, :func:`broadcast`, :func:`exact_sum`). Without
a launcher (``WORLD_SIZE`` unset or 1) every function is the ordinary serial path: no process
group, no communication, the items in their usual order.

:func:`exact_sum` adds float64 vectors without rounding in between (integer limbs, then one
rounding), so a sum over ranks does not depend on how the terms are spread over them: a training
run gives bitwise the same gradients on 1, 2 or 512 processes.

Example::

    from ase_nnxc import parallel

    world = parallel.init()                       # joins the torchrun job, or stays serial
    mine = parallel.share(systems, costs)         # a cost-balanced, static share
    energies = parallel.map_dynamic(energy, systems, costs, desc="G2")  # dynamic, on every rank
"""

from __future__ import annotations

import datetime
import hashlib
import os
import pickle
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist

#: Bits per integer limb of :func:`exact_sum`; three limbs hold 120 bits below the largest term.
_LIMB_BITS = 40
_LIMBS = 3


@dataclass(frozen=True)
class World:
    """Who this process is."""

    rank: int = 0
    """Global rank, 0 to ``size - 1``."""
    size: int = 1
    """Number of processes."""
    local_rank: int = 0
    """Rank on this machine (selects the GPU with NCCL)."""
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    """Device of this rank's collectives (CPU with gloo, ``cuda:LOCAL_RANK`` with NCCL)."""

    @property
    def is_root(self) -> bool:
        """Whether this is rank 0, which alone writes files and prints progress."""
        return self.rank == 0


SERIAL = World()
_state: dict[str, Any] = {"world": SERIAL, "store": None, "calls": 0, "owned": False}


def init(backend: str | None = None, timeout_s: float = 1800.0) -> World:
    """Join the job a launcher describes in the environment; serial when there is none.

    ``torchrun`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
    ``MASTER_PORT``; a bare ``srun`` sets ``SLURM_PROCID``, ``SLURM_NTASKS`` and
    ``SLURM_LOCALID``, used when ``MASTER_ADDR`` and ``MASTER_PORT`` are exported too.
    ``backend`` defaults to ``ASE_NNXC_BACKEND`` or ``gloo``; with ``nccl`` each rank's
    collectives run on ``cuda:LOCAL_RANK``. Calling it again returns the same world.
    """
    if _state["world"].size > 1 or dist.is_initialized():
        return world()
    env = os.environ
    if "WORLD_SIZE" not in env and "SLURM_NTASKS" in env and "MASTER_ADDR" in env:
        env["RANK"], env["WORLD_SIZE"] = env["SLURM_PROCID"], env["SLURM_NTASKS"]
        env["LOCAL_RANK"] = env.get("SLURM_LOCALID", "0")
    if int(env.get("WORLD_SIZE", "1")) <= 1:
        return SERIAL
    backend = backend or env.get("ASE_NNXC_BACKEND", "gloo")
    local_rank = int(env.get("LOCAL_RANK", "0"))
    device = torch.device("cpu")
    if backend == "nccl":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    timeout = datetime.timedelta(seconds=timeout_s)
    store, rank, size = next(dist.rendezvous("env://", timeout=timeout))
    # torchrun's agent keeps its store across restarts (--max-restarts): without a prefix per
    # attempt, restarted workers read the addresses of the killed ones and cannot connect.
    store = dist.PrefixStore(f"attempt_{env.get('TORCHELASTIC_RESTART_COUNT', '0')}", store)
    dist.init_process_group(
        backend, store=dist.PrefixStore("default_pg", store), rank=rank, world_size=size, timeout=timeout
    )
    # Our own keys (work counters) live under their own prefix, apart from torch's.
    _state["store"] = dist.PrefixStore("ase_nnxc", store)
    _state["world"] = World(rank, size, local_rank, device)
    _state["owned"] = True
    return _state["world"]


def world() -> World:
    """The :class:`World` of this process (:data:`SERIAL` outside a job)."""
    if _state["world"].size == 1 and dist.is_available() and dist.is_initialized():
        # A process group made by the caller (a test, a notebook): use it as it is.
        size = dist.get_world_size()
        device = (
            torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
        )
        _state["world"] = World(dist.get_rank(), size, int(os.environ.get("LOCAL_RANK", "0")), device)
    return _state["world"]


def finalize() -> None:
    """Leave the process group :func:`init` joined (at the end of a command); serial again after."""
    if _state.get("owned") and dist.is_initialized():
        dist.destroy_process_group()
        _state.update(world=SERIAL, store=None, calls=0, owned=False)


# -- who does what ------------------------------------------------------------------------
def assign(costs: Sequence[float], size: int) -> list[int]:
    """Owner rank of every item: largest cost first, each to the least-loaded rank.

    A pure function (ties go to the lower index and the lower rank), so every rank computes
    the same assignment from the same costs. The longest-processing-time rule's makespan is
    at most 4/3 of the optimum.

    >>> assign([5.0, 1.0, 4.0, 3.0], 2)
    [0, 0, 1, 1]
    """
    loads = [0.0] * size
    owners = [0] * len(costs)
    for index in sorted(range(len(costs)), key=lambda i: (-float(costs[i]), i)):
        rank = min(range(size), key=lambda r: (loads[r], r))
        owners[index] = rank
        loads[rank] += float(costs[index])
    return owners


def makespan(costs: Sequence[float], owners: Sequence[int], size: int) -> float:
    """The largest per-rank sum of ``costs`` under ``owners``."""
    loads = [0.0] * size
    for cost, rank in zip(costs, owners):
        loads[rank] += float(cost)
    return max(loads)


def share(items: Sequence, costs: Sequence[float], current: World | None = None) -> list:
    """The items :func:`assign` gives this rank (all of them, in order, when serial)."""
    current = current or world()
    if current.size == 1:
        return list(items)
    owners = assign(costs, current.size)
    return [item for item, rank in zip(items, owners) if rank == current.rank]


def dynamic(items: Sequence, costs: Sequence[float] | None = None, desc: str | None = None) -> Iterator:
    """Yield the items this rank claims, most costly first, each claimed by exactly one rank.

    A rank takes the next unclaimed item when it is free (an atomic counter in the job's
    ``torch.distributed`` store), so ranks that draw cheap items take more of them. Every
    rank must run the loop to its end. ``desc`` shows a progress bar on rank 0 that counts
    the items finished by all ranks.
    """
    from tqdm.auto import tqdm

    order = sorted(range(len(items)), key=lambda i: (-float(costs[i]), i)) if costs is not None else range(len(items))
    order = list(order)
    current = world()
    bar = tqdm(total=len(order), desc=desc, disable=desc is None or not current.is_root, file=sys.stderr, leave=False)
    if current.size == 1:
        for index in order:
            yield items[index]
            bar.update(1)
        bar.close()
        return
    store = _store()
    _state["calls"] += 1  # every rank calls in the same sequence, so the keys agree
    prefix = f"dynamic/{_state['calls']}/"
    stop = threading.Event()
    watcher = None
    if current.is_root and not bar.disable:
        watcher = threading.Thread(target=_watch, args=(store, prefix + "done", bar, stop), daemon=True)
        watcher.start()
    try:
        while (claimed := int(store.add(prefix + "next", 1)) - 1) < len(order):
            yield items[order[claimed]]
            store.add(prefix + "done", 1)
    finally:
        stop.set()
        if watcher is not None:
            watcher.join()
        bar.close()


def _watch(store, key: str, bar, stop: threading.Event) -> None:
    """Move rank 0's progress bar to the number of items all ranks have finished."""
    while not stop.wait(0.5):
        bar.update(int(store.add(key, 0)) - bar.n)
    bar.update(int(store.add(key, 0)) - bar.n)


def map_dynamic(
    fn: Callable[[Any], Any],
    items: Sequence,
    costs: Sequence[float] | None = None,
    desc: str | None = None,
    on_result: Callable[[int, Any], None] | None = None,
) -> list:
    """``[fn(item) for item in items]`` on every rank, the items shared by :func:`dynamic`.

    ``on_result(index, result)`` runs on the rank that computed the item, right after it (to
    append it to a shared cache, so an interrupted run need not redo it). Results travel by
    pickle. An exception from ``fn`` stops no other rank: the items are finished, and then the
    exception of the first failed item (in item order) is raised on every rank.
    """
    positions = list(range(len(items)))
    local: dict[int, tuple[bool, Any]] = {}
    for i in dynamic(positions, costs, desc):
        try:
            result = fn(items[i])
        except Exception as err:  # raised on every rank below, once all items are done
            local[i] = (False, _portable(err))
            continue
        local[i] = (True, result)
        if on_result is not None:
            on_result(i, result)
    merged: dict[int, tuple[bool, Any]] = {}
    for part in all_gather(local):
        merged.update(part)
    failures = [merged[i][1] for i in positions if not merged[i][0]]
    if failures:
        raise failures[0]
    return [merged[i][1] for i in positions]


def _portable(err: Exception) -> Exception:
    """``err`` if it survives pickling (to travel to the other ranks), else a RuntimeError saying it."""
    try:
        pickle.loads(pickle.dumps(err))
    except Exception:  # an exception class whose constructor takes other arguments than its message
        return RuntimeError(f"{type(err).__name__}: {err}")
    return err


# -- collectives ----------------------------------------------------------------------------
def all_gather(obj: Any) -> list:
    """``obj`` of every rank, in rank order, on every rank (by pickle)."""
    if world().size == 1:
        return [obj]
    out: list = [None] * world().size
    dist.all_gather_object(out, obj)
    return out


def gather_to_root(obj: Any) -> list | None:
    """``obj`` of every rank, in rank order, on rank 0; ``None`` elsewhere."""
    current = world()
    if current.size == 1:
        return [obj]
    out: list | None = [None] * current.size if current.is_root else None
    dist.gather_object(obj, out, dst=0)
    return out


def scatter_from_root(objs: Sequence | None) -> Any:
    """Rank ``r`` receives ``objs[r]`` of rank 0 (``objs`` is ignored elsewhere)."""
    current = world()
    if current.size == 1:
        return objs[0]
    out: list = [None]
    dist.scatter_object_list(out, list(objs) if current.is_root else None, src=0)
    return out[0]


def broadcast(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if world().size == 1:
        return obj
    box = [obj if world().is_root else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    """Wait until every rank arrives."""
    if world().size > 1:
        dist.barrier()


def exact_sum(terms: Sequence[torch.Tensor], numel: int) -> torch.Tensor:
    """Sum of every rank's ``terms`` (float64 vectors of ``numel``), independent of their order.

    Each term is scaled by a power of two common to all ranks (from the largest magnitude of
    each component) and split exactly into three 40-bit integer limbs; integer sums are
    associative, so the limbs add up to the same numbers whatever the order and the split over
    ranks, and only the final conversion rounds. Terms smaller than ``2**-120`` times the
    largest are truncated there. Costs two ``all_reduce`` of ``numel`` and ``3 numel`` numbers.
    A non-finite component makes that component NaN (or inf). A collective: every rank calls it.

    Returns
    -------
    torch.Tensor
        ``(numel,)`` float64, the same on every rank, on the device of the terms.

    """
    current = world()
    device = terms[0].device if terms else torch.device("cpu")
    if terms:
        stacked = torch.stack(list(terms)).detach().reshape(len(terms), numel).to(torch.float64)
    else:
        stacked = torch.zeros(0, numel, dtype=torch.float64, device=device)
    largest = stacked.abs().amax(0) if len(stacked) else torch.zeros(numel, dtype=torch.float64, device=device)
    largest = _all_reduce(largest, dist.ReduceOp.MAX if current.size > 1 else None)
    finite = torch.isfinite(largest)
    _, exponent = torch.frexp(torch.where(finite, largest, torch.ones_like(largest)))
    scaled = _times_power_of_two(torch.where(finite, stacked, torch.zeros_like(stacked)), -exponent)
    step = float(2**_LIMB_BITS)
    limbs = []
    for _ in range(_LIMBS):  # |scaled| < 1 throughout: each limb is an integer below 2**40
        scaled = scaled * step
        limb = torch.trunc(scaled)
        scaled = scaled - limb  # exact
        limbs.append(limb.to(torch.int64).sum(0))
    limbs = _all_reduce(torch.stack(limbs), dist.ReduceOp.SUM if current.size > 1 else None)
    # Carry so that the two lower limbs lie in [0, 2**40): the conversion then rounds about once.
    for k in (2, 1):
        carry = torch.div(limbs[k], 2**_LIMB_BITS, rounding_mode="floor")
        limbs[k] -= carry * 2**_LIMB_BITS
        limbs[k - 1] += carry
    value = limbs[0].double() + (limbs[1].double() + limbs[2].double() / step) / step
    total = _times_power_of_two(value / step, exponent)
    if not bool(finite.all()):
        naive = _all_reduce(stacked.sum(0), dist.ReduceOp.SUM if current.size > 1 else None)
        total = torch.where(finite, total, naive)
    return total


def _times_power_of_two(values: torch.Tensor, exponent: torch.Tensor) -> torch.Tensor:
    """``values * 2**exponent``, exact, in two factors so that neither over- nor underflows."""
    half = torch.div(exponent, 2, rounding_mode="floor")
    first = torch.pow(2.0, half.to(torch.float64))
    second = torch.pow(2.0, (exponent - half).to(torch.float64))
    return values * first * second


def _all_reduce(tensor: torch.Tensor, op) -> torch.Tensor:
    """In-place ``all_reduce`` on the rank's device (a no-op when serial); returns it on its own device."""
    if op is None:
        return tensor
    device = tensor.device
    moved = tensor.to(world().device)
    dist.all_reduce(moved, op=op)
    return moved.to(device)


def check_replicas(tensors: Sequence[torch.Tensor], what: str = "parameters") -> None:
    """Raise on every rank if the ranks' ``tensors`` differ (SHA-256 of their bytes).

    Raises
    ------
    RuntimeError
        Naming the ranks whose copy differs from rank 0's.

    """
    if world().size == 1:
        return
    digest = hashlib.sha256()
    for tensor in tensors:
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    check_same(digest.hexdigest(), what)


def check_same(text: str, what: str) -> None:
    """Raise on every rank if ``text`` (a digest, say) is not the same on all ranks.

    Raises
    ------
    RuntimeError
        Naming the ranks whose ``what`` differs from rank 0's.

    """
    if world().size == 1:
        return
    texts = all_gather(text)
    differ = [rank for rank, t in enumerate(texts) if t != texts[0]]
    if differ:
        raise RuntimeError(f"{what} of rank(s) {differ} differ from rank 0's ({texts[0][:12]})")


def _store():
    """The job's key-value store (made by :func:`init`, or the default group's)."""
    if _state["store"] is None:
        # A process group the caller made: its store, under our prefix.
        _state["store"] = dist.PrefixStore("ase_nnxc/", dist.distributed_c10d._get_default_store())
    return _state["store"]

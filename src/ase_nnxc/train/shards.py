"""The systems of a training or validation pass, spread over the ranks of a job.

Each system has one owner rank (:class:`SystemOwners`, cost-balanced and rebalanced between
epochs from measured SCF times). A pass (:func:`local_pass`) converges the rank's own systems,
warm-started from their last densities, and evaluates what depends on them alone: the energy
of each system with its parameter gradient ``dE/dtheta``, and the loss term (or the RMS
deviation) of each ``dm``/``dens``/``force`` entry with its gradient. Only floats and these
per-system vectors leave the rank; the loss is then assembled identically on every rank and
the gradient is ``sum_s dL/dE_s dE_s/dtheta + sum_e dL/dl_e dl_e/dtheta``, summed exactly
(:func:`ase_nnxc.parallel.exact_sum`), so the parameters do not depend on the number of ranks.

Rank 0 holds every system's latest density (it writes the checkpoints); the other ranks hold
those of the systems they own, received from rank 0 when the owners change.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from ase_nnxc import parallel
from ase_nnxc.train.dataset import Entry, SystemSpec
from ase_nnxc.train.predict import EntryFailed, Predictor

ENERGY_TYPES = ("ae", "ie")
#: Owners change between epochs only when that shortens the slowest rank's predicted time by
#: more than this fraction (moving a system costs its Kohn-Sham setup on the new rank).
REBALANCE_GAIN = 0.1


def estimated_cost(spec: SystemSpec) -> float:
    """A first guess of a system's SCF time in seconds, before one is measured.

    Meta-GGA SCF runs in these bases spend their time on the grid (about 15,000 points per
    atom at grid level 3, each with ``nao`` AO values), hence ``natom x nao``; the factor is
    that of r2SCAN in def2-TZVP on one core (0.4-11 s for the shipped training systems). Only
    the ratios between systems matter for an assignment.
    """
    mol = spec.to_system().to_mole()
    return 0.03 * mol.natm * mol.nao_nr()


def unique_systems(entries: Sequence[Entry]) -> list[SystemSpec]:
    """The systems of ``entries``, each once, in order of first appearance."""
    specs: dict[tuple, SystemSpec] = {}
    for entry in entries:
        for spec in entry.systems:
            specs.setdefault(spec.key, spec)
    return list(specs.values())


def data_fingerprint(entries: Sequence[Entry]) -> str:
    """SHA-256 of the entries' types, names, systems, labels and weights (every rank must read the same data)."""
    digest = hashlib.sha256()
    for entry in entries:
        digest.update(repr((entry.e_type, entry.name, [s.key for s in entry.systems], entry.weight)).encode())
        digest.update(np.ascontiguousarray(np.asarray(entry.true_val, dtype=np.float64)).tobytes())
    return digest.hexdigest()


def pack(densities: dict[tuple, torch.Tensor]) -> dict:
    """Densities as NumPy arrays, which pickle about ten times faster than tensors (for sending)."""
    return {key: (value.detach().cpu().numpy(), str(value.device)) for key, value in densities.items()}


def unpack(packed: dict) -> dict[tuple, torch.Tensor]:
    """The tensors :func:`pack` sent, on their devices again."""
    return {key: torch.from_numpy(array).to(device) for key, (array, device) in packed.items()}


class SystemOwners:
    """Which rank converges which system, and the densities that move when that changes.

    Parameters
    ----------
    predictor
        This rank's predictor; its ``densities`` are kept consistent with the owners.

    """

    def __init__(self, predictor: Predictor):
        self.predictor = predictor
        self.owner: dict[tuple, int] = {}
        """Owner rank of every system placed so far (the same on every rank)."""
        self.seconds: dict[tuple, float] = {}
        """Last measured time of each system's pass work (the same on every rank)."""
        self._estimates: dict[tuple, float] = {}

    def costs(self, specs: Sequence[SystemSpec]) -> list[float]:
        """Measured seconds where known, else :func:`estimated_cost` scaled to the measured ones."""
        if all(s.key in self.seconds for s in specs):
            return [self.seconds[s.key] for s in specs]
        for spec in specs:
            if spec.key not in self._estimates:
                self._estimates[spec.key] = estimated_cost(spec)
        estimates = [self._estimates[s.key] for s in specs]
        ratios = sorted(self.seconds[s.key] / e for s, e in zip(specs, estimates) if s.key in self.seconds and e > 0)
        scale = ratios[len(ratios) // 2] if ratios else 1.0
        return [self.seconds.get(s.key, scale * e) for s, e in zip(specs, estimates)]

    def rebalance(self, groups: Sequence[Sequence[SystemSpec]]) -> None:
        """Place every system of ``groups``, each group balanced on its own. A collective.

        A pass converges one group at a time (the training systems, the validation-only ones).
        """
        size = parallel.world().size
        new: dict[tuple, int] = {}
        for group in groups:
            specs = [s for s in group if s.key not in new]
            costs = self.costs(specs)
            owners = parallel.assign(costs, size)
            old = [self.owner.get(s.key) for s in specs]
            if None not in old and parallel.makespan(costs, owners, size) > (1 - REBALANCE_GAIN) * parallel.makespan(
                costs, old, size
            ):
                owners = old
            new.update({s.key: rank for s, rank in zip(specs, owners)})
        self.move(new)

    def move(self, new: dict[tuple, int]) -> None:
        """Adopt the owners ``new``: rank 0 sends each rank the densities it now needs. A collective."""
        current, predictor = parallel.world(), self.predictor
        mine = {key for key, rank in new.items() if rank == current.rank}
        # Only owned systems have Kohn-Sham setups; rank 0 keeps every density for the checkpoints.
        for key in (set(self.owner) | set(new)) - mine:
            predictor.forget(key, density=not current.is_root)
        if not current.is_root:
            for key in [k for k in predictor.densities if k not in mine]:
                predictor.forget(key)
        requests = parallel.gather_to_root(sorted(k for k in mine if k not in predictor.densities))
        parcels = None
        if current.is_root:
            parcels = [
                pack({k: predictor.densities[k] for k in asked if k in predictor.densities}) for asked in requests
            ]
        predictor.densities.update(unpack(parallel.scatter_from_root(parcels)))
        self.owner = dict(new)

    def adopt(self, densities: dict[tuple, torch.Tensor], seconds: dict[tuple, float]) -> None:
        """Own the systems whose ``densities`` this rank converged outside a pass. A collective.

        Used after frozen-density pre-training; ``seconds`` are their timings.
        """
        self.predictor.densities.update(densities)
        self.collect(densities)
        for rank, part in enumerate(parallel.all_gather(seconds)):
            self.seconds.update(part)
            self.owner.update(dict.fromkeys(part, rank))

    def mine(self, specs: Sequence[SystemSpec]) -> list[SystemSpec]:
        """The systems among ``specs`` that this rank owns (all when serial)."""
        rank = parallel.world().rank
        return [s for s in specs if self.owner.get(s.key, 0) == rank]

    def collect(self, densities: dict[tuple, torch.Tensor]) -> None:
        """Send this rank's new ``densities`` to rank 0, which keeps every system's latest. A collective."""
        parts = parallel.gather_to_root(pack(densities) if not parallel.world().is_root else {})
        if parts is not None:
            for part in parts:
                self.predictor.densities.update(unpack(part))


@dataclass
class PassSummary:
    """The floats a pass produced (merged over ranks by :func:`merge`)."""

    energies: dict[tuple, float] = field(default_factory=dict)
    """Total energy (Hartree) of every converged system of an energy entry."""
    values: dict[int, float] = field(default_factory=dict)
    """Loss term (training) or RMS deviation (evaluation) of every array entry, by batch index."""
    failed_systems: dict[tuple, str] = field(default_factory=dict)
    """Why a system could not be converged."""
    failed_entries: dict[int, str] = field(default_factory=dict)
    """Why an array entry could not be evaluated, by batch index."""
    seconds: dict[tuple, float] = field(default_factory=dict)
    """Wall time of each system's work in this pass."""

    def failure(self, index: int, entry: Entry) -> str:
        """Why entry ``index`` is left out of this pass ('' when it is not)."""
        for spec in entry.systems:
            if spec.key in self.failed_systems:
                return self.failed_systems[spec.key]
        return self.failed_entries.get(index, "")


def merge(parts: Sequence[PassSummary]) -> PassSummary:
    """One summary from every rank's."""
    out = PassSummary()
    for part in parts:
        for name in ("energies", "values", "failed_systems", "failed_entries", "seconds"):
            getattr(out, name).update(getattr(part, name))
    return out


def flat_gradient(output: torch.Tensor, params: Sequence[torch.Tensor]) -> torch.Tensor:
    """``d output / d params`` as one float64 vector (zeros where a parameter is unused)."""
    if not output.requires_grad:
        return torch.zeros(sum(p.numel() for p in params), dtype=torch.float64)
    grads = torch.autograd.grad(output, params, allow_unused=True)
    return torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1) for g, p in zip(grads, params)])


def local_pass(
    predictor: Predictor,
    entries: Sequence[Entry],
    owners: SystemOwners,
    params: Sequence[torch.Tensor] | None = None,
    term: Callable[[Entry, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> tuple[PassSummary, dict[tuple, torch.Tensor], dict[tuple, torch.Tensor]]:
    """Converge this rank's systems of ``entries`` and evaluate what depends on each alone.

    With ``params`` and ``term`` (training), ``term(entry, prediction, target)`` is an array
    entry's loss term, and the returned gradients hold ``dE_s/dtheta`` under ``("system", key)``
    and ``dl_e/dtheta`` under ``("entry", index)``; without, array entries get their RMS
    deviation and no gradient is taken.

    Returns
    -------
    (PassSummary, dict, dict)
        This rank's floats, its gradient vectors, and the new densities of its systems.

    """
    energy_keys = {s.key for e in entries if e.e_type in ENERGY_TYPES for s in e.systems}
    arrays: dict[tuple, list[int]] = {}
    for index, entry in enumerate(entries):
        if entry.e_type not in ENERGY_TYPES:
            arrays.setdefault(entry.systems[0].key, []).append(index)
    summary, gradients, densities = PassSummary(), {}, {}
    training = params is not None and term is not None
    for spec in owners.mine(unique_systems(entries)):
        start = time.perf_counter()
        try:
            ks, result = predictor.solve(spec)
        except EntryFailed as err:
            summary.failed_systems[spec.key] = str(err)
            summary.seconds[spec.key] = time.perf_counter() - start
            continue
        densities[spec.key] = result.density
        with torch.set_grad_enabled(training):
            if spec.key in energy_keys:
                energy, _ = ks.energy(result.density)
                summary.energies[spec.key] = float(energy.detach())
                if training:
                    gradients[("system", spec.key)] = flat_gradient(energy, params)
            for index in arrays.get(spec.key, []):
                entry = entries[index]
                try:
                    prediction = predictor.array_prediction(entry, ks, result)
                    target = predictor.target(entry)
                except EntryFailed as err:
                    summary.failed_entries[index] = str(err)
                    continue
                if training:
                    value = term(entry, prediction, target)
                    gradients[("entry", index)] = flat_gradient(value, params)
                    summary.values[index] = float(value.detach())
                else:
                    summary.values[index] = float(((prediction - target) ** 2).mean().sqrt())
        summary.seconds[spec.key] = time.perf_counter() - start
    return summary, gradients, densities


def run_pass(predictor: Predictor, entries: Sequence[Entry], owners: SystemOwners, params=None, term=None):
    """:func:`local_pass` on every rank, then the merged summary everywhere and the densities on rank 0.

    Returns
    -------
    (PassSummary, dict)
        The merged summary and this rank's gradient vectors. A collective.

    """
    summary, gradients, densities = local_pass(predictor, entries, owners, params, term)
    merged = merge(parallel.all_gather(summary))
    owners.collect(densities)
    owners.seconds.update(merged.seconds)
    return merged, gradients


def entry_prediction(entry: Entry, energies: dict[tuple, torch.Tensor | float]):
    """``sum_i c_i E_i`` of an energy entry from its systems' energies (tensors or floats)."""
    return sum(c * energies[s.key] for c, s in zip(entry.coefficients(), entry.systems))

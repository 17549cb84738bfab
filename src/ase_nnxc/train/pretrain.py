"""Pre-training on frozen densities: many cheap optimiser steps before self-consistent training.

Each system is converged once with the starting functional (for a :class:`HybridXC` at
``a = 0``, the base functional); its density features on the grid are then kept fixed and a
parameter update only re-evaluates the XC energy there:

    E(theta) = E_0 - E_xc^0 + sum_g w_g e_theta(features_g)

Because the total energy is variational in the density, this is exact to first order in the
change of the functional; the self-consistent stage (the :class:`~ase_nnxc.train.trainer.Trainer`)
then removes the remaining second-order, density-driven difference. One step costs a
network evaluation on the stored grids, no SCF, so thousands of steps fit in minutes.

Example::

    >>> frozen = freeze_entries(entries, functional, SCFConfig(grid_level=3))  # doctest: +SKIP
    >>> history = pretrain(functional, entries, frozen, epochs=400, lr=3e-3)  # doctest: +SKIP
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from ase_nnxc import parallel
from ase_nnxc.grid.density import NVAR, density_features
from ase_nnxc.scf import KohnSham, SCFConfig, SCFNotConverged, run_scf
from ase_nnxc.train.dataset import Entry
from ase_nnxc.train.shards import estimated_cost, flat_gradient
from ase_nnxc.units import HARTREE_TO_KCAL_PER_MOL
from ase_nnxc.xc.base import XCFunctional
from ase_nnxc.xc.features import FeatureMap
from ase_nnxc.xc.neural import HybridXC

#: Grid points where the total density is below this (electrons/Bohr^3) are dropped: they
#: carry no XC energy worth a network evaluation.
DENSITY_CUTOFF = 1e-10


@dataclass
class FrozenSystem:
    """Density features of one converged system, with its reference energies."""

    features: torch.Tensor
    """``(2, nvar, npoint)`` alpha/beta features at the retained grid points."""
    weights: torch.Tensor
    """Quadrature weights of the retained points."""
    energy: float
    """Total energy of the freezing functional at its own SCF density (Hartree)."""
    xc_energy: float
    """That functional's XC energy on the retained points (Hartree)."""
    base_xc_energy: float | None = None
    """For a :class:`HybridXC`: its base functional's XC energy there (fixed while training)."""
    density: torch.Tensor | None = None
    """The converged density matrices (a warm start for the self-consistent stage)."""
    seconds: float = 0.0
    """Wall time of converging and freezing it."""

    def total_energy(self, functional: XCFunctional) -> torch.Tensor:
        """Total energy of ``functional`` at this frozen density (differentiable in its parameters)."""
        xc = (self.weights * functional(FeatureMap(self.features))).sum()
        return self.energy - self.xc_energy + xc


def freeze_system(spec, functional: XCFunctional, config: SCFConfig) -> FrozenSystem:
    """Converge ``spec`` with ``functional`` and keep its density features on the grid."""
    start = time.perf_counter()
    ks = KohnSham(spec.to_system(), functional, config)
    result = run_scf(ks)
    with torch.no_grad():
        coords = torch.from_numpy(ks.grid.coords)
        features = density_features(result.density, coords, ks.positions, ks.ao_cache, ks.nvar)
        features = FeatureMap(features).spin_resolved().stacked
        keep = features[:, 0].sum(0) > DENSITY_CUTOFF
        features = features[:, :, keep].contiguous()
        weights = torch.from_numpy(ks.grid.weights)[keep].contiguous()
        xc = float((weights * functional(FeatureMap(features))).sum())
        base_xc = None
        if isinstance(functional, HybridXC):
            nvar = NVAR[functional.base.family]
            base_xc = float((weights * functional.base(FeatureMap(features[:, :nvar]))).sum())
    seconds = time.perf_counter() - start
    return FrozenSystem(features, weights, float(result.energy), xc, base_xc, result.density, seconds)


def freeze_entries(entries: list[Entry], functional: XCFunctional, config: SCFConfig, progress: bool = True):
    """Frozen densities of the systems of ``entries`` (by system key), and the keys that failed.

    Under ``torchrun`` the systems are drawn dynamically, most costly first, and each rank
    returns the ones it froze (serially: all); the failures are those of every rank.
    """
    specs = list({s.key: s for e in entries for s in e.systems}.values())
    costs = [estimated_cost(spec) for spec in specs]
    frozen, failed = {}, {}
    for spec in parallel.dynamic(specs, costs, "frozen densities" if progress else None):
        try:
            frozen[spec.key] = freeze_system(spec, functional, config)
        except SCFNotConverged as err:
            failed[spec.key] = str(err)
    for part in parallel.all_gather(failed):
        failed.update(part)
    return frozen, failed


class FrozenSet:
    """All frozen systems in one grid, so a step is one network call and a segment sum.

    Parameters
    ----------
    frozen
        ``{system key: FrozenSystem}`` as returned by :func:`freeze_entries`.
    entries
        Energy entries (``ae``/``ie``); those with a system missing from ``frozen`` are dropped
        and listed in :attr:`skipped`.
    keys
        The systems to hold (default: those of the kept entries); they must include these.

    """

    def __init__(self, frozen: dict, entries: list[Entry], keys=None):
        self.entries, self.skipped, keys = _energy_entries(entries, frozen, keys)
        self.keys = keys
        """System keys in the order of :meth:`system_energies`."""
        systems = [frozen[k] for k in keys]
        self.features = torch.cat([f.features for f in systems], dim=-1)
        self.weights = torch.cat([f.weights for f in systems])
        self.segment = torch.cat([torch.full((f.weights.numel(),), i) for i, f in enumerate(systems)])
        self.energy = torch.tensor([f.energy for f in systems], dtype=torch.float64)
        self.xc_energy = torch.tensor([f.xc_energy for f in systems], dtype=torch.float64)
        self.base_xc_energy = (
            torch.tensor([f.base_xc_energy for f in systems], dtype=torch.float64)
            if all(f.base_xc_energy is not None for f in systems)
            else None
        )
        self.coefficients = _coefficients(self.entries, keys)
        self.targets = torch.tensor([float(e.true_val) for e in self.entries], dtype=torch.float64)
        self._base_density: dict[str, torch.Tensor] = {}  # see _base_energy_density

    def _base_energy_density(self, base: XCFunctional) -> torch.Tensor:
        """A fixed functional's energy density on every frozen grid point (computed once per name)."""
        if base.name not in self._base_density:
            with torch.no_grad():
                self._base_density[base.name] = base(FeatureMap(self.features[:, : NVAR[base.family]]))
        return self._base_density[base.name]

    def fixed_xc_energies(self, functional: XCFunctional) -> torch.Tensor:
        """XC energy of every system under a fixed (not trained) ``functional``, e.g. a base or anchor."""
        return self._per_system(self._base_energy_density(functional))

    def _per_system(self, energy_density: torch.Tensor) -> torch.Tensor:
        sums = torch.zeros(len(self.energy), dtype=torch.float64)
        return sums.index_add(0, self.segment, self.weights * energy_density)

    def system_energies(self, functional: XCFunctional) -> torch.Tensor:
        """Total energy of every system under ``functional`` at the frozen densities."""
        if isinstance(functional, HybridXC) and not functional.additive:
            # The base's (and the anchor's) energy density is fixed (computed once), the network runs on top.
            model_features = FeatureMap(self.features[:, : NVAR[functional.model.family]])
            anchor = None if functional.anchor is None else self._base_energy_density(functional.anchor)
            base = self._base_energy_density(functional.base)
            xc = self._per_system(functional.combine(base, model_features, anchor))
        elif isinstance(functional, HybridXC) and self.base_xc_energy is not None:
            # The base functional's part is fixed: only the network runs.
            model_xc = self._per_system(functional.model(FeatureMap(self.features[:, : NVAR[functional.model.family]])))
            xc = functional.a * model_xc + functional.b * self.base_xc_energy
        else:
            xc = self._per_system(functional(FeatureMap(self.features)))
        return self.energy - self.xc_energy + xc

    def predictions(self, functional: XCFunctional) -> torch.Tensor:
        """``sum_i c_i E_i`` of every entry (Hartree)."""
        return self.coefficients @ self.system_energies(functional)


def _energy_entries(entries: list[Entry], available, keys=None) -> tuple[list[Entry], list[Entry], list]:
    """Energy entries whose systems are all ``available``, the others, and the sorted system keys."""
    kept = [e for e in entries if e.e_type in ("ae", "ie") and all(s.key in available for s in e.systems)]
    skipped = [e for e in entries if e not in kept]
    return kept, skipped, sorted(keys if keys is not None else {s.key for e in kept for s in e.systems})


def _coefficients(entries: list[Entry], keys: list) -> torch.Tensor:
    """``(nentry, nsystem)``: entry ``i``'s value is ``sum_j C_ij E_j`` over the systems ``keys``."""
    index = {k: i for i, k in enumerate(keys)}
    coefficients = torch.zeros(len(entries), len(keys), dtype=torch.float64)
    for row, entry in enumerate(entries):
        for c, spec in zip(entry.coefficients(), entry.systems):
            coefficients[row, index[spec.key]] += c
    return coefficients


def pretrain(
    functional: XCFunctional,
    entries: list[Entry],
    frozen: dict,
    epochs: int,
    lr: float = 3e-3,
    weight_decay: float = 0.0,
    type_weights: dict | None = None,
    progress: bool = True,
    optimiser: torch.optim.Optimizer | None = None,
) -> list[float]:
    """Full-batch Adam on energy entries at frozen densities; returns the loss per epoch.

    The loss is the weighted mean squared error in kcal/mol (entry weight times
    ``type_weights[e_type]``) plus ``weight_decay`` times the squared network weights.
    Entries with a system missing from ``frozen`` (its SCF failed) are left out and counted
    in the progress bar. Pass ``optimiser`` to continue with its state (after re-freezing).

    Under ``torchrun`` ``frozen`` holds this rank's systems (:func:`freeze_entries`): each rank
    evaluates those, the energies are gathered, and the gradient ``sum_s dL/dE_s dE_s/dtheta``
    is summed exactly (:func:`ase_nnxc.parallel.exact_sum`) in the same way as in one process,
    one system at a time, so the result does not depend on the number of ranks.
    """
    from tqdm.auto import trange

    available = sorted(set().union(*parallel.all_gather(sorted(frozen))))
    kept, skipped, keys = _energy_entries(entries, set(available))
    if not kept:
        raise ValueError("no energy entries with frozen densities to pre-train on")
    index = {k: i for i, k in enumerate(keys)}
    coefficients = _coefficients(kept, keys)
    targets = torch.tensor([float(e.true_val) for e in kept], dtype=torch.float64)
    type_weights = type_weights or {}
    weights = torch.tensor([e.weight * type_weights.get(e.e_type, 1.0) for e in kept], dtype=torch.float64)
    mine = {k: FrozenSet(frozen, [], keys=[k]) for k in keys if k in frozen}
    params = [p for p in functional.parameters() if p.requires_grad]
    numel = sum(p.numel() for p in params)
    optimiser = optimiser or torch.optim.Adam(params, lr=lr)
    history = []
    bar = trange(epochs, desc="pre-training", disable=not progress)
    for _ in bar:
        energies, slopes = {}, {}
        for key, system in mine.items():
            energy = system.system_energies(functional)[0]
            energies[key], slopes[key] = float(energy.detach()), flat_gradient(energy, params)
        for part in parallel.all_gather(energies):
            energies.update(part)
        system_energies = torch.tensor([energies[k] for k in keys], dtype=torch.float64, requires_grad=True)
        errors = (coefficients @ system_energies - targets) * HARTREE_TO_KCAL_PER_MOL
        loss = (weights * errors**2).sum() / weights.sum()
        (slope,) = torch.autograd.grad(loss, system_energies)
        parts = [slope[index[k]] * vector for k, vector in slopes.items()]
        if weight_decay:
            decay = weight_decay * sum((p**2).sum() for p in params if p.ndim > 1)
            if parallel.world().is_root:
                parts.append(flat_gradient(decay, params))
            loss = loss + decay.detach()
        total = parallel.exact_sum(parts, numel)
        offset = 0
        for param in params:
            param.grad = total[offset : offset + param.numel()].view_as(param).clone()
            offset += param.numel()
        optimiser.step()
        history.append(float(loss.detach()))
        bar.set_postfix(loss=f"{history[-1]:.3e}", skipped=len(skipped))
    return history

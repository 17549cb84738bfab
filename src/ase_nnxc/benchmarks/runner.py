"""Species -> energies for one method, through its disk cache (:mod:`.cache`).

A :class:`Method` is a functional, the code that runs it (ase_nnxc's own Kohn-Sham core, or
PySCF as the reference column), the basis, the grid and whether two-electron integrals are
density fitted. :class:`Runner` computes every species of a reaction set that its cache lacks,
cheapest first, writes each record as soon as it is done and shows progress (species done,
time per species, an estimate of the rest).

An SCF that does not converge is retried with the fallbacks of :data:`.scf.ATTEMPTS` (the driver
itself already tries direct minimisation and damped, level-shifted DIIS); if all fail the
species is recorded as failed with the reason, and every reaction using it is reported as
failed. Dispersion (D4) is added after the SCF and cached beside it.

Density fitting ``"auto"``: a subset is fitted when its largest species in the run has more
than :data:`DENSITY_FIT_MIN_NAO` basis functions (subsets sharing species are decided
together), so that all species of a reaction share one treatment and the fitting error cancels
as far as it can (see ``benchmarks/density_fit_cost.py``).
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

import numpy as np

from ase_nnxc.benchmarks.cache import EnergyCache
from ase_nnxc.benchmarks.method import Method
from ase_nnxc.benchmarks.reactions import BenchmarkDataError, ReactionSet, Species
from ase_nnxc.benchmarks.scf import run_species

#: Density fitting ``"auto"`` fits a subset whose largest species has more basis functions than this.
#: Measured with ``benchmarks/density_fit_cost.py`` (def2-TZVP, one run each, machine under load):
#: from 86 to 234 functions the fitted SCF took 0.43-1.04 of the exact one's time (median 0.72
#: PBE, 0.64 B3LYP), at 43 anything from 0.5 to 2.3 (noise); fitting moved total energies by
#: 30-250 microhartree but the S66 water-dimer binding energy by 0.029 (PBE) and 0.004 (B3LYP)
#: kcal/mol. Exact integrals stay in memory up to 251 functions (4 GB), beyond which the
#: direct path is slower still. 150 keeps the small-molecule subsets exact and fits the rest.
DENSITY_FIT_MIN_NAO = 150
#: Dispersion corrections the runner knows.
DISPERSION_MODELS = ("d4",)


def count_basis_functions(species: Species, basis: str) -> int:
    """Spherical basis functions of ``species`` in ``basis`` (no integrals are computed).

    Raises
    ------
    BenchmarkDataError
        When the basis has no functions for one of its elements (the message names the file).

    """
    total = 0
    for symbol in set(species.symbols):
        count = _functions_per_atom(basis.lower(), symbol)
        if isinstance(count, str):
            raise BenchmarkDataError(f"{species.source or species.name}: {count}")
        total += count * species.symbols.count(symbol)
    return total


@cache
def _functions_per_atom(basis: str, symbol: str) -> int | str:
    # The count, or why there is none. Shells are [l, (kappa,) [exp, c1, c2, ...], ...].
    from pyscf import gto

    try:
        with warnings.catch_warnings():  # PySCF suggests basis-set-exchange for what it lacks
            warnings.simplefilter("ignore", UserWarning)
            shells = gto.basis.load(basis, symbol)
    except Exception as err:  # PySCF raises BasisNotFoundError, KeyError or RuntimeError by format
        return f"basis {basis!r} has no functions for element {symbol} ({' '.join(str(err).split())})"
    if not shells:
        return f"basis {basis!r} has no functions for element {symbol}"
    count = 0
    for shell in shells:
        rows = shell[2:] if not isinstance(shell[1], list) else shell[1:]
        count += (2 * shell[0] + 1) * (len(rows[0]) - 1)
    return count


def density_fit_subsets(
    reaction_set: ReactionSet, nao: dict[str, int], threshold: int = DENSITY_FIT_MIN_NAO
) -> set[str]:
    """Subsets to fit: those whose largest species (of the run) has more than ``threshold`` basis functions.

    Subsets that share a species (BH76 and BH76RC; G2's atoms) are decided together, so every
    reaction sees one treatment of each of its species.
    """
    group = {s: s for s in reaction_set.subsets}

    def root(subset: str) -> str:
        while group[subset] != subset:
            subset = group[subset]
        return subset

    owner: dict[str, str] = {}
    for reaction in reaction_set.reactions:
        for name in reaction.species:
            group[root(owner.setdefault(name, reaction.subset))] = root(reaction.subset)
    largest: dict[str, int] = {}
    for reaction in reaction_set.reactions:
        for name in reaction.species:
            largest[root(reaction.subset)] = max(largest.get(root(reaction.subset), 0), nao[name])
    return {s for s in reaction_set.subsets if largest[root(s)] > threshold}


@dataclass
class RunSummary:
    """What one call of :meth:`Runner.energies` did."""

    computed: int = 0
    """Species computed now (not found in the cache)."""
    seconds: float = 0.0
    """Wall time of those computations."""
    failed: dict[str, str] = field(default_factory=dict)
    """Species name -> why it has no energy."""


class Runner:
    """Energies of the species of reaction sets for one :class:`Method`.

    Parameters
    ----------
    method
        The method; its ``density_fit`` is overridden per subset when ``density_fit="auto"``.
    cache_dir
        Folder of the per-method cache files.
    density_fit
        ``True``, ``False`` or ``"auto"`` (per subset, see the module docstring).
    dispersion
        ``None`` or ``"d4"``: added to every SCF energy, cached separately.
    compute
        ``False``: use cached records only (``--cached-only``); no SCF is run.
    retry_failed
        Run again the species whose cached record is a failure.
    require_aufbau
        Whether the first attempts insist on aufbau occupations (the G2 benchmark, like
        training, accepts stationary non-aufbau states from the start).
    progress
        Show a progress bar.

    """

    def __init__(
        self,
        method: Method,
        cache_dir: str | Path,
        density_fit: bool | str = False,
        dispersion: str | None = None,
        compute: bool = True,
        retry_failed: bool = False,
        require_aufbau: bool = True,
        progress: bool = True,
        density_fit_threshold: int = DENSITY_FIT_MIN_NAO,
    ):
        if density_fit not in (True, False, "auto"):
            raise ValueError(f"density_fit must be True, False or 'auto', not {density_fit!r}")
        if dispersion not in (None, *DISPERSION_MODELS):
            raise ValueError(f"dispersion must be None or one of {', '.join(DISPERSION_MODELS)}, not {dispersion!r}")
        self.method = method
        self.cache_dir = Path(cache_dir)
        self.density_fit = density_fit
        self.dispersion = dispersion
        self.compute = compute
        self.retry_failed = retry_failed
        self.require_aufbau = require_aufbau
        self.progress = progress
        self.threshold = density_fit_threshold
        self._caches: dict[bool, EnergyCache] = {}
        self._dispersion_label: str | None = None
        self._dispersion_params = None
        self.summary = RunSummary()

    def method_for(self, fitted: bool) -> Method:
        """The method with density fitting on or off."""
        return replace(self.method, density_fit=fitted, auxbasis=self.method.auxbasis if fitted else None)

    def cache(self, fitted: bool) -> EnergyCache:
        """The cache of the method with density fitting on or off."""
        if fitted not in self._caches:
            method = self.method_for(fitted)
            self._caches[fitted] = EnergyCache(self.cache_dir / method.cache_name(), method.header())
        return self._caches[fitted]

    def plan(self, reaction_set: ReactionSet) -> list[tuple[Species, int, bool]]:
        """``(species, basis functions, density fitted)`` of every species used, cheapest first.

        Raises
        ------
        BenchmarkDataError
            When the basis lacks an element of some species (before anything is computed).

        """
        basis = self.method.resolved_basis()
        nao = {s.name: count_basis_functions(s, basis) for s in reaction_set.used_species()}
        fitted_subsets = density_fit_subsets(reaction_set, nao, self.threshold) if self.density_fit == "auto" else set()
        fitted: dict[str, bool] = {}
        for reaction in reaction_set.reactions:
            for name in reaction.species:
                fitted[name] = fitted.get(name, False) or (
                    self.density_fit is True or reaction.subset in fitted_subsets
                )
        rows = [(s, nao[s.name], fitted[s.name]) for s in reaction_set.used_species()]
        return sorted(rows, key=lambda t: (t[1], t[0].natom, t[0].name))

    def prepare(self) -> None:
        """Read the caches and resolve the dispersion parameters, so that bad settings fail before any SCF.

        Raises
        ------
        ValueError
            For an unreadable cache file or a functional without D4 parameters.
        ImportError
            When D4 is asked for but ``dftd4`` (or ``ase_nnxc.dispersion``) is missing.

        """
        self.cache(False)
        if self.density_fit is not False:
            self.cache(True)
        if self.dispersion is not None:
            self._parameters()

    def energies(self, reaction_set: ReactionSet) -> dict[str, float | None]:
        """Total energy (Hartree; SCF plus dispersion if asked) of every species used, by name.

        ``None`` for a species whose SCF failed (its reason is in :attr:`summary`) or, with
        ``compute=False``, was never run.
        """
        self.prepare()
        plan = self.plan(reaction_set)
        pending = {(s.key, f): (s, n, f) for s, n, f in plan if self._needs_scf(self.cache(f).get(s))}
        pending = list(pending.values())  # a geometry shared by several subsets is computed once
        if pending and self.compute:
            self._run(pending)
        out = {}
        for species, _, fitted in plan:
            record = self.cache(fitted).get(species)
            if record is None or record.get("energy") is None:
                if record is not None:
                    self.summary.failed[species.name] = record.get("error") or "no energy"
                out[species.name] = None
                continue
            out[species.name] = record["energy"] + self._dispersion_energy(species, fitted, record)
        return out

    def records(self, reaction_set: ReactionSet) -> dict[str, dict | None]:
        """The cached record of every species used (``None`` where none is), by name."""
        return {s.name: self.cache(f).get(s) for s, _, f in self.plan(reaction_set)}

    def _needs_scf(self, record: dict | None) -> bool:
        return record is None or (self.retry_failed and record.get("energy") is None)

    def _run(self, pending: list[tuple[Species, int, bool]]) -> None:
        """Run the SCF of every pending species and cache each record as soon as it is done.

        Under ``torchrun`` the ranks share the species (largest first, each taken by the next
        free rank, :func:`ase_nnxc.parallel.map_dynamic`); each rank writes its records into the
        shared cache files, and every rank then reads all of them.
        """
        from ase_nnxc import parallel

        start = time.perf_counter()
        if parallel.world().size == 1:
            self._run_serial(pending)
        else:

            def compute(item):
                species, _, fitted = item
                return run_species(self.method_for(fitted), species, self.require_aufbau)

            def store(index: int, record: dict) -> None:
                species, _, fitted = pending[index]
                self.cache(fitted).put(species, record)

            costs = [float(nao) ** 2 for _, nao, _ in pending]
            desc = self.method.name if self.progress else None
            parallel.map_dynamic(compute, pending, costs=costs, desc=desc, on_result=store)
            for cache in self._caches.values():
                cache.refresh()
        self.summary.computed += len(pending)
        self.summary.seconds += time.perf_counter() - start

    def _run_serial(self, pending: list[tuple[Species, int, bool]]) -> None:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(pending), desc=self.method.name, unit="species", disable=not self.progress, smoothing=0)
        naos, seconds = [], []
        with bar:
            for index, (species, nao, fitted) in enumerate(pending):
                bar.set_postfix_str(f"{species.name} ({species.natom} atoms, {nao} bf)", refresh=True)
                record = run_species(self.method_for(fitted), species, self.require_aufbau)
                self.cache(fitted).put(species, record)
                naos.append(nao)
                seconds.append(record["seconds"])
                rest = estimate_rest(naos, seconds, [n for _, n, _ in pending[index + 1 :]])
                bar.set_postfix_str(f"last {record['seconds']:.1f} s, rest ~{_duration(rest)}", refresh=False)
                bar.update()

    def _dispersion_energy(self, species: Species, fitted: bool, record: dict) -> float:
        if self.dispersion is None:
            return 0.0
        label, params = self._parameters()
        values = record.setdefault("dispersion", {})
        if label not in values:
            values[label] = dispersion_energy(species, params)
            cache = self.cache(fitted)
            cache.dispersion_parameters[label] = params.as_dict()
            cache.put(species, {k: v for k, v in record.items() if k != "name"})
        return values[label]

    def dispersion_description(self) -> str | None:
        """One line: the dispersion parameters this method uses and where they come from (``None`` without)."""
        if self.dispersion is None:
            return None
        values = self._parameters()[1].as_dict()
        source = values.pop("source", "")
        numbers = ", ".join(f"{k} {v:g}" for k, v in values.items() if isinstance(v, float | int))
        return f"{self.dispersion.upper()} of {self.method.name}: {numbers} ({source})"

    def _parameters(self):
        if self._dispersion_params is None:
            try:
                from ase_nnxc.dispersion import d4_parameters
            except ImportError as err:
                raise ImportError(
                    f"D4 dispersion needs ase_nnxc.dispersion and dftd4 (pip install dftd4): {err}"
                ) from err
            target = self.method.functional() if self.method.engine == "nnxc" else self.method.xc
            self._dispersion_params = d4_parameters(target)
            text = json.dumps(self._dispersion_params.as_dict(), sort_keys=True)
            self._dispersion_label = f"{self.dispersion}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"
        return self._dispersion_label, self._dispersion_params


def estimate_rest(naos: list[int], seconds: list[float], pending: list[int]) -> float:
    """Seconds the ``pending`` species (their basis sizes) should take, from those done so far.

    Each species is taken to cost ``c nao^2``, with ``c`` the geometric mean of ``t / nao^2``
    over the larger half (by basis size) of the species done: small species are dominated by
    fixed costs, and a cube law extrapolated from atoms overestimates molecules many times. On
    a Diet-30 run of r2SCAN/def2-TZVP (43-250 basis functions done, 81 species, shared cores)
    this estimate of the rest stayed within 50 % of the time it took, from the tenth species on.

    Parameters
    ----------
    naos, seconds : list
        Basis size and wall time of every species done so far.
    pending : list of int
        Basis sizes of the species still to run.

    Returns
    -------
    float
        Estimated seconds for the pending species (0 when none are left or none are done).

    """
    if not pending or not seconds:
        return 0.0
    nao, time_ = np.asarray(naos, dtype=float), np.maximum(np.asarray(seconds, dtype=float), 1e-3)
    larger = nao >= np.median(nao)
    scale = np.exp(np.mean(np.log(time_[larger]) - 2.0 * np.log(nao[larger])))
    return float(scale * np.sum(np.asarray(pending, dtype=float) ** 2))


def dispersion_energy(species: Species, params) -> float:
    """D4 dispersion energy (Hartree) of ``species`` with ``params`` (``ase_nnxc.dispersion``)."""
    from ase_nnxc.dispersion import dispersion_energy_gradient

    if species.natom == 1:
        return 0.0  # no pair, no triple
    energy, _ = dispersion_energy_gradient(np.array(species.numbers), species.positions, species.charge, params)
    return float(energy)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"

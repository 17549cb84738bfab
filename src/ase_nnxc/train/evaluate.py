"""Evaluating a functional on dataset entries: per-entry results and mean absolute errors.

Every system is converged once, however many energy entries share it, and the entries are
assembled from the systems' energies. Under ``torchrun`` the systems (and the ``dm``/``dens``/
``force`` entries) are handed out dynamically, most costly first, since their costs differ by
two orders of magnitude (:func:`ase_nnxc.parallel.map_dynamic`); every rank gets every result.
With a :class:`~ase_nnxc.cache.ResultCache`, each finished item is appended to it at once by the
rank that computed it, and a later run (after an interruption, with any number of ranks) takes
it from there instead of computing it again.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ase_nnxc import parallel
from ase_nnxc.cache import ResultCache
from ase_nnxc.train.dataset import Entry
from ase_nnxc.train.predict import EntryFailed, Predictor
from ase_nnxc.train.shards import ENERGY_TYPES, PassSummary, entry_prediction, estimated_cost, unique_systems
from ase_nnxc.units import HARTREE_TO_KCAL_PER_MOL


@dataclass(frozen=True)
class EntryResult:
    """One evaluated entry."""

    name: str
    """Entry name."""
    e_type: str
    """Entry type."""
    prediction: float
    """Predicted value (Hartree for energies; RMS deviation for arrays)."""
    target: float
    """Label (Hartree for energies; 0 for arrays)."""
    failed: str = ""
    """Why the entry could not be evaluated (empty when it was)."""
    labelled: bool = True
    """Whether the entry has a reference (``target`` is NaN for an unlabelled one)."""

    @property
    def error_kcal(self) -> float:
        """Signed error in kcal/mol (energy entries)."""
        return (self.prediction - self.target) * HARTREE_TO_KCAL_PER_MOL


def mean_absolute_error(results: list[EntryResult], e_type: str | None = None) -> float:
    """MAE in kcal/mol over the evaluated energy entries (of one type if given)."""
    errors = [
        abs(r.error_kcal)
        for r in results
        if not r.failed and r.labelled and r.e_type in ENERGY_TYPES and e_type in (None, r.e_type)
    ]
    return sum(errors) / len(errors) if errors else math.nan


def results_from(entries: Sequence[Entry], summary: PassSummary) -> list[EntryResult]:
    """Entry results from the systems' energies and the array entries' RMS deviations."""
    out = []
    for index, entry in enumerate(entries):
        reason = summary.failure(index, entry)
        if reason:
            out.append(EntryResult(entry.name, entry.e_type, math.nan, math.nan, reason))
        elif entry.true_val is None:  # an unlabelled entry: the prediction alone (energies) or nothing to compare
            value = entry_prediction(entry, summary.energies) if entry.e_type in ENERGY_TYPES else math.nan
            out.append(EntryResult(entry.name, entry.e_type, value, math.nan, labelled=False))
        elif entry.e_type in ENERGY_TYPES:
            out.append(
                EntryResult(entry.name, entry.e_type, entry_prediction(entry, summary.energies), float(entry.true_val))
            )
        else:
            out.append(EntryResult(entry.name, entry.e_type, summary.values[index], 0.0))
    return out


def fingerprint(predictor: Predictor) -> str:
    """SHA-256 of the functional (class, name, every tensor of its state) and the SCF settings."""
    digest = hashlib.sha256()
    functional = predictor.functional
    digest.update(f"{type(functional).__qualname__}/{functional.name}/{predictor.config!r}".encode())
    for name, tensor in sorted(functional.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _item_key(prefix: str, item: tuple) -> str:
    kind, index, what = item
    if kind == "system":
        return f"{prefix}/system/{json.dumps(list(what.key))}"
    entry: Entry = what
    label = hashlib.sha256(np.ascontiguousarray(np.asarray(entry.true_val, dtype=np.float64)).tobytes()).hexdigest()
    return f"{prefix}/{entry.e_type}/{json.dumps(list(entry.systems[0].key))}/{label[:16]}"


def _compute(predictor: Predictor, item: tuple, warm_starts: dict) -> list:
    """``["ok", value]`` or ``["failed", reason]`` for one system (its energy) or array entry (its RMS).

    The SCF starts from ``warm_starts`` (else PySCF's guess), never from another item's density,
    so no result depends on which rank computed what before it.
    """
    kind, _, what = item
    spec = what if kind == "system" else what.systems[0]
    predictor.forget(spec.key)
    if spec.key in warm_starts:
        predictor.densities[spec.key] = warm_starts[spec.key]
    try:
        with torch.no_grad():
            ks, result = predictor.solve(spec)
            if kind == "system":
                value = float(ks.energy(result.density)[0])
            else:
                prediction = predictor.array_prediction(what, ks, result)
                value = math.nan
                if what.true_val is not None:
                    value = float(((prediction - predictor.target(what)) ** 2).mean().sqrt())
    except EntryFailed as err:
        return ["failed", str(err)]
    finally:
        predictor.forget(spec.key, density=False)  # the setup's integrals and AO values are not needed again
    return ["ok", value]


def evaluate(
    predictor: Predictor, entries: list[Entry], progress: bool = False, cache: ResultCache | None = None
) -> list[EntryResult]:
    """Evaluate ``entries`` without gradients, sharing the systems dynamically over the ranks.

    ``cache``: results of earlier runs of the same functional and SCF settings are taken from
    it, new ones appended to it as they finish. Each SCF starts from the density the predictor
    held for its system when called (PySCF's guess if none). Returns the same list on every rank.
    """
    specs = unique_systems([e for e in entries if e.e_type in ENERGY_TYPES])
    items = [("system", i, s) for i, s in enumerate(specs)]
    items += [("entry", i, e) for i, e in enumerate(entries) if e.e_type not in ENERGY_TYPES]
    prefix = fingerprint(predictor)
    keys = [_item_key(prefix, item) for item in items]
    done = parallel.broadcast(cache.load() if cache is not None and parallel.world().is_root else {})
    todo = [i for i, key in enumerate(keys) if key not in done]
    costs = [estimated_cost(items[i][2] if items[i][0] == "system" else items[i][2].systems[0]) for i in todo]
    if cache is not None:

        def on_result(position: int, result: list) -> None:
            cache.add(keys[todo[position]], result)

    else:
        on_result = None
    warm_starts = dict(predictor.densities)
    computed = parallel.map_dynamic(
        lambda i: _compute(predictor, items[i], warm_starts), todo, costs, "evaluate" if progress else None, on_result
    )
    outcome = {**{key: done[key] for key in keys if key in done}, **{keys[i]: r for i, r in zip(todo, computed)}}
    summary = PassSummary()
    for (kind, index, what), key in zip(items, keys):
        status, value = outcome[key]
        if kind == "system":
            (summary.energies if status == "ok" else summary.failed_systems)[what.key] = value
        else:
            (summary.values if status == "ok" else summary.failed_entries)[index] = value
    return results_from(entries, summary)

"""Benchmark reports: every method side by side, as Markdown, CSV and a bar chart.

:func:`reaction_errors` turns species energies into ``computed - reference`` per reaction
(kcal/mol); :func:`write_report` writes ``report.md`` (headline and per-category figures, the
per-subset MAD table, the worst reactions, failed species and why, wall time and species per
hour), ``summary.csv``, ``subsets.csv``, ``reactions.csv``, ``species.csv`` and
``categories.png``. Figures that compare methods are taken over the reactions that every
method has; each table says how many that is.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

from ase_nnxc.benchmarks.reactions import ReactionSet
from ase_nnxc.benchmarks.statistics import Figure, reaction_energy, subset_mads, summary
from ase_nnxc.units import HARTREE_TO_KCAL_PER_MOL

#: Reactions listed per method in "worst reactions".
WORST = 10


@dataclass
class MethodResult:
    """What the report needs of one method."""

    name: str
    """Column name."""
    energies: dict[str, float | None]
    """Total energy (Hartree) of every species, ``None`` where it failed or is missing."""
    records: dict[str, dict | None] = field(default_factory=dict)
    """The cache record of every species (seconds, cycles, error, ...)."""
    computed: int = 0
    """Species computed in this run."""
    wall_seconds: float = 0.0
    """Wall time of this run's computations."""


def reaction_errors(reaction_set: ReactionSet, energies: dict[str, float | None]) -> dict[str, float | None]:
    """``sum_k C_k E_k - reference`` (kcal/mol) of every reaction, ``None`` where a species is missing."""
    out = {}
    for reaction in reaction_set.reactions:
        value = reaction_energy(reaction, energies)
        out[reaction.name] = None if value is None else value * HARTREE_TO_KCAL_PER_MOL - reaction.reference
    return out


def common_errors(reaction_set: ReactionSet, results: list[MethodResult]) -> dict[str, dict[str, float | None]]:
    """Each method's errors restricted to the reactions that every method has (others ``None``)."""
    errors = {m.name: reaction_errors(reaction_set, m.energies) for m in results}
    shared = {r.name for r in reaction_set.reactions if all(e[r.name] is not None for e in errors.values())}
    return {m: {k: (v if k in shared else None) for k, v in e.items()} for m, e in errors.items()}


def headline(reaction_set: ReactionSet) -> str:
    """Name of the headline figure of the set."""
    if not reaction_set.weights:
        return "MAD"
    return f"{reaction_set.name} estimate of WTMAD-2" if reaction_set.name.startswith("Diet") else "WTMAD-2"


def _fmt(value: float, digits: int = 2) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _figure(fig: Figure) -> str:
    return _fmt(fig.value) + ("" if fig.complete else f" ({fig.count}/{fig.total})")


def summary_tables(reaction_set: ReactionSet, results: list[MethodResult]) -> list[str]:
    """Markdown lines: the headline and per-category figures, on common reactions and on each method's own."""
    shared = common_errors(reaction_set, results)
    own = {m.name: reaction_errors(reaction_set, m.energies) for m in results}
    keys = list(summary(reaction_set, own[results[0].name]))
    titles = [headline(reaction_set)] + keys[1:]
    count = next(iter(summary(reaction_set, e)["total"] for e in shared.values())).count if shared else 0
    lines = [
        f"On the {count} of {len(reaction_set.reactions)} reactions that every method has (kcal/mol):",
        "",
        "| method | " + " | ".join(titles) + " |",
        "|---|" + "---|" * len(titles),
    ]
    for name, errors in shared.items():
        figures = summary(reaction_set, errors)
        lines.append(f"| {name} | " + " | ".join(_fmt(figures[k].value) for k in keys) + " |")
    lines += [
        "",
        "Each method on all the reactions it has (reactions covered / defined in brackets where some failed):",
        "",
    ]
    lines += ["| method | " + " | ".join(titles) + " |", "|---|" + "---|" * len(titles)]
    for name, errors in own.items():
        figures = summary(reaction_set, errors)
        lines.append(f"| {name} | " + " | ".join(_figure(figures[k]) for k in keys) + " |")
    return lines


def write_report(
    out: str | Path,
    reaction_set: ReactionSet,
    results: list[MethodResult],
    settings: list[str],
    extra_sections: list[str] | None = None,
) -> Path:
    """Write ``report.md`` and its CSV files and chart into ``out``; the Markdown file's path.

    ``settings`` are lines printed under the title (basis, grid, dispersion, command);
    ``extra_sections`` are Markdown blocks appended at the end (e.g. the training-pool overlap).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    shared = common_errors(reaction_set, results)
    own = {m.name: reaction_errors(reaction_set, m.energies) for m in results}
    lines = [f"# {reaction_set.name}: {', '.join(m.name for m in results)}", ""]
    lines += [f"- {s}" for s in settings] + [""]
    for note in reaction_set.notes:
        lines += [note, ""]
    lines += summary_tables(reaction_set, results)
    if reaction_set.categories:
        _bar_chart(out / "categories.png", reaction_set, shared)
        lines += ["", "![per-category figures on the common reactions](categories.png)"]
    lines += ["", "## Per subset", "", *_subset_table(reaction_set, shared)]
    lines += ["", "## Worst reactions", "", *_worst(reaction_set, own)]
    lines += ["", "## Failed species", "", *_failures(reaction_set, results, own)]
    lines += ["", "## Time", "", *_timing(reaction_set, results)]
    for section in extra_sections or []:
        lines += ["", section]
    path = out / "report.md"
    path.write_text("\n".join(lines).rstrip() + "\n")
    _write_csv(out, reaction_set, results, own)
    return path


def _subset_table(reaction_set: ReactionSet, shared) -> list[str]:
    names = list(shared)
    weighted = bool(reaction_set.weights)
    header = (
        ["subset", "category", "N", "mean abs ref"] + (["weight"] if weighted else []) + [f"MAD {n}" for n in names]
    )
    lines = ["MAD (kcal/mol) on the common reactions; `n/N` where some reactions failed.", ""]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    mads = {n: subset_mads(reaction_set, e) for n, e in shared.items()}
    for subset in reaction_set.subsets:
        members = [r for r in reaction_set.reactions if r.subset == subset]
        mean_ref = sum(abs(r.reference) for r in members) / len(members)
        row = [subset, reaction_set.categories.get(subset, ""), str(len(members)), _fmt(mean_ref)]
        row += [_fmt(reaction_set.weights[subset])] if weighted else []
        row += [_figure(mads[n][subset]) for n in names]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def _worst(reaction_set: ReactionSet, own) -> list[str]:
    weights = reaction_set.weights
    by = "weight x |error|" if weights else "|error|"
    lines = [f"The {WORST} largest per method, by {by} (kcal/mol):", ""]
    lines += [
        "| method | reaction | species | reference | computed | error | weighted |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, errors in own.items():
        ranked = sorted(
            (r for r in reaction_set.reactions if errors[r.name] is not None),
            key=lambda r: -abs(errors[r.name]) * weights.get(r.subset, 1.0),
        )
        for r in ranked[:WORST]:
            err = errors[r.name]
            species = " ".join(f"{c:+g} {s.split('/')[-1]}" for s, c in r.components)
            lines.append(
                f"| {name} | {r.name} | {species} | {_fmt(r.reference)} | {_fmt(r.reference + err)} | {err:+.2f} | "
                f"{abs(err) * weights.get(r.subset, 1.0):.2f} |"
            )
    return lines


def _failures(reaction_set: ReactionSet, results: list[MethodResult], own) -> list[str]:
    lines = []
    for m in results:
        failed = [n for n, e in m.energies.items() if e is None]
        lost = sum(v is None for v in own[m.name].values())
        if not failed:
            lines.append(f"- {m.name}: none ({len(m.energies)} species, all reactions computed).")
            continue
        lines.append(f"- {m.name}: {len(failed)} of {len(m.energies)} species, so {lost} reactions have no value:")
        for name in failed:
            record = m.records.get(name)
            reason = "not computed (--cached-only)" if record is None else (record.get("error") or "no energy")
            lines.append(f"  - `{name}`: {reason}")
    return lines


def _timing(reaction_set: ReactionSet, results: list[MethodResult]) -> list[str]:
    lines = ["| method | calculations | computed now | wall time now | SCF time of all | calculations per hour |"]
    lines.append("|---|---|---|---|---|---|")
    for m in results:
        distinct = {id(r): r for r in m.records.values() if r is not None}.values()  # shared geometries once
        seconds = sum(r.get("seconds", 0.0) or 0.0 for r in distinct)
        rate = len(distinct) / (seconds / 3600) if seconds else math.nan
        lines.append(
            f"| {m.name} | {len(distinct)} | {m.computed} | {m.wall_seconds / 60:.1f} min | "
            f"{seconds / 3600:.2f} h | {_fmt(rate, 1)} |"
        )
    lines += [
        "",
        "A calculation is one species (a geometry shared by several subsets is one); SCF time adds up the "
        "seconds recorded with each in the cache, fallbacks included, from whichever run made it.",
    ]
    return lines


def _write_csv(out: Path, reaction_set: ReactionSet, results: list[MethodResult], own) -> None:
    names = [m.name for m in results]
    with open(out / "reactions.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["subset", "index", "species", "coefficients", "reference_kcal_mol", *names])
        for r in reaction_set.reactions:
            values = [None if own[n][r.name] is None else r.reference + own[n][r.name] for n in names]
            writer.writerow([r.subset, r.index, " ".join(r.species), " ".join(f"{c:g}" for c in r.coefficients),
                             r.reference, *values])  # fmt: skip
    shared = common_errors(reaction_set, results)
    with open(out / "summary.csv", "w", newline="") as f:
        writer = csv.writer(f)
        keys = list(summary(reaction_set, own[names[0]]))
        writer.writerow(["method", "reactions"] + keys)
        for n in names:
            figures = summary(reaction_set, shared[n])
            writer.writerow([n, figures["total"].count] + [figures[k].value for k in keys])
    with open(out / "subsets.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["subset", "category", "weight", *(f"{n} MAD" for n in names), *(f"{n} n" for n in names)])
        mads = {n: subset_mads(reaction_set, shared[n]) for n in names}
        for s in reaction_set.subsets:
            writer.writerow([s, reaction_set.categories.get(s, ""), reaction_set.weights.get(s, "")]
                            + [mads[n][s].value for n in names] + [mads[n][s].count for n in names])  # fmt: skip
    with open(out / "species.csv", "w", newline="") as f:
        writer = csv.writer(f)
        fields = ["energy", "dispersion", "seconds", "cycles", "nao", "attempt", "error"]
        writer.writerow(["method", "species", "total_energy_hartree", *fields])
        for m in results:
            for name, record in m.records.items():
                record = record or {}
                writer.writerow([m.name, name, m.energies.get(name)] + [record.get(k) for k in fields])


def _bar_chart(path: Path, reaction_set: ReactionSet, shared) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    figures = {n: summary(reaction_set, e) for n, e in shared.items()}
    keys = list(next(iter(figures.values())))
    x = np.arange(len(keys))
    width = 0.8 / max(len(figures), 1)
    fig, ax = plt.subplots(figsize=(1.6 * len(keys) + 2, 4))
    for i, (name, values) in enumerate(figures.items()):
        ax.bar(x + (i - (len(figures) - 1) / 2) * width, [values[k].value for k in keys], width, label=name)
    ax.set_xticks(x, [headline(reaction_set) if k == "total" else k for k in keys], rotation=20, ha="right")
    ax.set_ylabel("kcal/mol")
    ax.set_title(f"{reaction_set.name} ({next(iter(figures.values()))['total'].count} common reactions)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)

"""Benchmark functionals on GMTKN55 (full, a subset list or a DietGMTKN55 selection) or on G2.

Every species is run once per method and cached on disk as soon as it is done (one small JSON
file per method in --cache), so an interrupted run continues where it stopped, also on
another machine if the cache is copied. An SCF that does not converge is retried with
fallbacks and, if it still fails, reported: reactions using it are listed as failed, never
dropped silently. The report (report.md, CSV files, a per-category bar chart) goes to --out.

  nnxc benchmark gmtkn55 --data GMTKN55 --diet DietGMTKN55 --subset diet30 --xc nnxc r2scan --dispersion d4
  nnxc benchmark gmtkn55 --data GMTKN55 --subset W4-11 S22 --xc pbe --basis def2-svp
  nnxc benchmark gmtkn55 --data GMTKN55 --diet DietGMTKN55 --subset diet100 --plan   # species and cost, no SCF
  nnxc benchmark g2 --xc nnxc --reference pbe r2scan --basis def2-tzvp --subset test
"""

from __future__ import annotations

import argparse
import sys
import time

from ase_nnxc.benchmarks.runner import DENSITY_FIT_MIN_NAO
from ase_nnxc.cli import CommandError

NAME = "benchmark"
HELP = "run GMTKN55 (or its Diet subsets) or G2 for several functionals and write a report"

_DIET = {"diet30": 30, "diet50": 50, "diet100": 100, "diet150": 150}


def add_g2_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the G2 benchmark (also used by ``benchmarks/accuracy.py``)."""
    parser.add_argument("--xc", nargs="*", default=["nnxc"], help="functionals run by ase_nnxc (names or checkpoints)")
    parser.add_argument("--reference", nargs="*", default=["lda,vwn", "pbe", "b3lyp"], help="functionals run by PySCF")
    parser.add_argument("--basis", default=None, help="basis (default: each functional's own, else def2-svp)")
    parser.add_argument("--grid-level", type=int, default=3)
    parser.add_argument("--subset", choices=["all", "test", "train"], default="all", help="which G2 molecules")
    parser.add_argument("--no-h2", action="store_true", help="skip the H2 curve")
    parser.add_argument(
        "--h2-basis", default=None, help="also run the H2 curve in this basis (separates basis from functional error)"
    )
    parser.add_argument("--cached-only", action="store_true", help="tabulate cached energies only, compute nothing")
    parser.add_argument("--cache", default="results/accuracy/cache", help="energy cache folder")
    parser.add_argument("--out", default="results/accuracy", help="folder for table.md, errors.csv and plots")


def _add_gmtkn55_arguments(parser: argparse.ArgumentParser) -> None:
    data = parser.add_argument_group("data")
    data.add_argument("--data", default=None, metavar="PATH",
                      help="GMTKN55 directory in the official layout (default: $ASE_NNXC_GMTKN55)")  # fmt: skip
    data.add_argument("--diet", default=None, metavar="PATH",
                      help="DietGMTKN55 directory, for --subset dietNNN (default: $ASE_NNXC_DIET)")  # fmt: skip
    data.add_argument(
        "--subset", nargs="+", default=["diet30"], metavar="NAME",
        help="diet30, diet50, diet100, diet150, full, or GMTKN55 subset names, each optionally with "
        "1-based reaction numbers (W4-11:1,5) (default: diet30)",
    )  # fmt: skip
    methods = parser.add_argument_group("methods")
    methods.add_argument("--xc", nargs="+", default=["nnxc"], metavar="NAME",
                         help="functionals run by ase_nnxc: libxc names, nnxc, checkpoints, plugin names")  # fmt: skip
    methods.add_argument("--pyscf", nargs="*", default=[], metavar="NAME",
                         help="functionals run by PySCF in the same run (reference columns)")  # fmt: skip
    methods.add_argument("--dispersion", choices=["none", "d4"], default="none",
                         help="add D4 dispersion to every energy (its parameters from each functional)")  # fmt: skip
    methods.add_argument("--basis", default="def2-tzvp", help="basis set (default: def2-tzvp)")
    methods.add_argument("--grid-level", type=int, default=3, metavar="LEVEL", help="grid level (default: 3)")
    methods.add_argument(
        "--density-fit", choices=["auto", "yes", "no"], default="auto",
        help=f"density fitting: auto fits every subset whose largest species has more than {DENSITY_FIT_MIN_NAO} "
        "basis functions (default: auto)",
    )  # fmt: skip
    methods.add_argument("--auxbasis", default=None, help="auxiliary basis (default: PySCF's for basis and functional)")
    run = parser.add_argument_group("run")
    run.add_argument(
        "--cache", default="benchmarks/cache/gmtkn55", metavar="DIR",
        help="energy cache folder, one small JSON file per method; commit it to continue elsewhere "
        "(default: benchmarks/cache/gmtkn55)",
    )  # fmt: skip
    run.add_argument("--out", default=None, metavar="DIR", help="report folder (default: results/gmtkn55/SUBSET)")
    run.add_argument("--cached-only", action="store_true", help="report cached energies only, run no SCF")
    run.add_argument("--retry-failed", action="store_true", help="run again the species whose cached SCF failed")
    run.add_argument("--plan", action="store_true", help="list the species (atoms, basis functions) and stop")
    run.add_argument(
        "--training-pool", default="shipped", metavar="PATH",
        help="report reactions with species of this training set: 'shipped' (nnxc's), a YAML dataset, or 'none'",
    )  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``nnxc benchmark gmtkn55 ...`` and ``nnxc benchmark g2 ...``."""
    sets = parser.add_subparsers(title="benchmarks", dest="benchmark", metavar="SET", required=True)
    gmtkn = sets.add_parser("gmtkn55", help="GMTKN55 or DietGMTKN55 (WTMAD-2)", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    _add_gmtkn55_arguments(gmtkn)
    g2 = sets.add_parser("g2", help="G2 atomisation energies, atomic IPs and the H2 curve", description=__doc__,
                         formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    add_g2_arguments(g2)


def run(args: argparse.Namespace) -> int:
    """Run the chosen benchmark."""
    from ase_nnxc import parallel
    from ase_nnxc.benchmarks.reactions import BenchmarkDataError

    command = "nnxc " + " ".join(sys.argv[1:])
    world = parallel.init()  # under torchrun the ranks share the species; rank 0 writes the report
    try:
        if args.benchmark == "g2":
            from ase_nnxc.benchmarks.g2_report import run_g2

            text = run_g2(args.xc, args.reference, args.basis, args.grid_level, args.subset, not args.no_h2,
                          args.h2_basis, args.cached_only, args.cache, args.out, command)  # fmt: skip
            if world.is_root:
                print(text)
            return 0
        return _run_gmtkn55(args, command, world.is_root)
    except BenchmarkDataError as err:
        raise CommandError(str(err)) from err
    finally:
        parallel.finalize()


def load_reaction_set(data: str | None, diet: str | None, subsets: list[str]):
    """The reaction set that ``--data``, ``--diet`` and ``--subset`` describe."""
    from ase_nnxc.benchmarks.diet import diet_file, diet_reaction_set, read_diet
    from ase_nnxc.benchmarks.gmtkn55 import GMTKN55

    gmtkn = GMTKN55(data)
    choice = [s.lower() for s in subsets]
    if len(choice) == 1 and choice[0] in _DIET:
        return diet_reaction_set(gmtkn, read_diet(diet_file(diet, _DIET[choice[0]])))
    if len(choice) == 1 and choice[0] == "full":
        return gmtkn.reaction_set()
    if any(c in _DIET or c == "full" for c in choice):
        raise CommandError(f"--subset {' '.join(subsets)}: a Diet selection or 'full' stands alone")
    selection: dict[str, tuple[int, ...]] = {}
    for item in subsets:
        subset, _, indices = item.partition(":")
        try:
            chosen = tuple(int(i) for i in indices.split(",")) if indices else None
        except ValueError:
            raise CommandError(f"--subset {item}: reaction numbers must be integers, as in W4-11:1,5") from None
        selection[subset] = chosen or tuple(range(1, len(gmtkn.reactions(subset)) + 1))
    return gmtkn.reaction_set(selection=selection, name="GMTKN55 " + " ".join(subsets))


def _run_gmtkn55(args: argparse.Namespace, command: str, is_root: bool = True) -> int:
    from ase_nnxc.benchmarks.report import MethodResult, summary_tables, write_report
    from ase_nnxc.benchmarks.runner import Method, Runner

    reaction_set = load_reaction_set(args.data, args.diet, args.subset)
    fit = {"auto": "auto", "yes": True, "no": False}[args.density_fit]
    if args.auxbasis and fit is False:
        raise CommandError(f"--auxbasis {args.auxbasis} needs --density-fit auto or yes")
    aux = {"density_fit": bool(args.auxbasis), "auxbasis": args.auxbasis}  # the runner switches fitting per subset
    methods = [Method(x, "nnxc", args.basis, args.grid_level, **aux) for x in args.xc]
    methods += [Method(x, "pyscf", args.basis, args.grid_level, **aux) for x in args.pyscf]
    dispersion = None if args.dispersion == "none" else args.dispersion
    runners = {}
    for method in methods:
        option = "--xc" if method.engine == "nnxc" else "--pyscf"
        try:
            if method.engine == "nnxc":
                method.functional()
            else:
                from pyscf.dft import libxc

                libxc.parse_xc(method.xc)
            runners[method.name] = Runner(method, args.cache, density_fit=fit, dispersion=dispersion,
                                          compute=not args.cached_only, retry_failed=args.retry_failed)  # fmt: skip
            runners[method.name].prepare()
        except (ValueError, KeyError, OSError, ImportError) as err:
            raise CommandError(f"{option} {method.xc}: {' '.join(str(err).split())}") from err

    if args.plan:
        if not is_root:
            return 0
        _print_plan(reaction_set, runners[methods[0].name])
        return 0
    results = []
    for method in methods:
        this = runners[method.name]
        start = time.perf_counter()
        energies = this.energies(reaction_set)
        results.append(MethodResult(method.name, energies, this.records(reaction_set), this.summary.computed,
                                    time.perf_counter() - start))  # fmt: skip
    if not is_root:
        return 0
    settings = [
        f"{len(reaction_set.reactions)} reactions, {len(reaction_set.used_species())} species",
        f"basis {args.basis}, grid level {args.grid_level}, density fitting {args.density_fit}"
        + (f" (subsets whose largest species has > {DENSITY_FIT_MIN_NAO} basis functions)" if fit == "auto" else ""),
        f"dispersion: {args.dispersion}" + ("" if dispersion else " (no dispersion correction in any figure)"),
        *(r.dispersion_description() for r in runners.values() if dispersion),
        f"command: `{command}`",
    ]
    sections = [_overlap(reaction_set, args.training_pool)] if args.training_pool != "none" else []
    out = args.out or f"results/gmtkn55/{'-'.join(args.subset)}"
    path = write_report(out, reaction_set, results, settings, sections)
    print("\n".join(summary_tables(reaction_set, results)))
    print(f"\nreport: {path}")
    return 0


def _overlap(reaction_set, pool_arg: str) -> str:
    from ase_nnxc.benchmarks.overlap import dataset_pool, overlap_section, shipped_training_pool, training_overlap

    if pool_arg == "shipped":
        pool, name = shipped_training_pool(), "the shipped functional nnxc"
    else:
        try:
            pool, name = dataset_pool(pool_arg), pool_arg
        except (OSError, ValueError) as err:
            raise CommandError(f"--training-pool {pool_arg}: {' '.join(str(err).split())}") from err
    return overlap_section(reaction_set, training_overlap(reaction_set, pool), name)


def _print_plan(reaction_set, runner) -> None:
    plan = runner.plan(reaction_set)
    basis = runner.method.resolved_basis()
    unique = {s.key for s, _, _ in plan}
    print(f"{reaction_set.name}: {len(reaction_set.reactions)} reactions, {len(plan)} species "
          f"({len(unique)} distinct geometries), basis {basis}, cheapest first")  # fmt: skip
    print(f"{'species':<28} {'formula':<14} {'atoms':>5} {'charge':>6} {'spin':>4} {'nao':>5} {'fit':>4}")
    for species, nao, fitted in plan:
        print(f"{species.name:<28} {species.formula:<14} {species.natom:>5} {species.charge:>6} {species.spin:>4} "
              f"{nao:>5} {'yes' if fitted else 'no':>4}")  # fmt: skip
    atoms = sorted(s.natom for s, _, _ in plan)
    naos = [n for _, n, _ in plan]
    print(f"atoms: median {atoms[len(atoms) // 2]}, largest {atoms[-1]}, over 30: {sum(a > 30 for a in atoms)}; "
          f"basis functions: median {sorted(naos)[len(naos) // 2]}, largest {max(naos)}; "
          f"density fitted: {sum(f for _, _, f in plan)}")  # fmt: skip

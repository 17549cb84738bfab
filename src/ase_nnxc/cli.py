"""The ``nnxc`` command: a thin dispatcher over subcommands that live in their own modules.

Adding a subcommand
-------------------
Write a module (for example ``ase_nnxc/cli_commands/train.py``) that defines

``NAME``
    the subcommand as typed (``"train"``);
``HELP``
    one line for ``nnxc --help``; the module docstring becomes the subcommand's description;
``add_arguments(parser)``
    adds its options to the ``argparse.ArgumentParser`` it is given;
``run(args) -> int``
    does the work and returns the exit status,

and add its dotted name to :data:`SUBCOMMANDS`. A subcommand reports a failure the user can
fix by raising :class:`CommandError` (or letting an ASE ``CalculatorError`` through); ``main``
prints it as one line on stderr and exits with status 2. Keep heavy imports (torch, PySCF)
inside ``run`` so that ``nnxc --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

#: Modules of the subcommands, in the order ``nnxc --help`` lists them.
SUBCOMMANDS: list[str] = [
    "ase_nnxc.cli_commands.energy",
    "ase_nnxc.cli_commands.forces",
    "ase_nnxc.cli_commands.optimize",
    "ase_nnxc.cli_commands.train",
    "ase_nnxc.cli_commands.evaluate",
    "ase_nnxc.cli_commands.benchmark",
    "ase_nnxc.cli_commands.plugins",
    "ase_nnxc.cli_commands.export",
]

#: Exit status of a failure the user can fix (bad file, bad option value, SCF not converged).
EXIT_USAGE = 2

_EPILOG = """\
Units: energies in eV (and Hartree), forces in eV/Angstrom, dipoles in e*Angstrom and Debye.
Exit status: 0 on success, 1 when an optimisation stops before it converges, 2 on bad input
or a failed calculation (a one-line message on stderr).
Run `nnxc COMMAND --help` for the options of each command."""


class CommandError(Exception):
    """A failure the user can fix; ``main`` prints its message without a traceback."""


def _load(module_name: str):
    module = importlib.import_module(module_name)
    missing = [name for name in ("NAME", "HELP", "add_arguments", "run") if not hasattr(module, name)]
    if missing:
        raise TypeError(f"Subcommand module {module_name} lacks {', '.join(missing)}.")
    return module


def build_parser() -> argparse.ArgumentParser:
    """Build the ``nnxc`` argument parser with every subcommand of :data:`SUBCOMMANDS`."""
    from ase_nnxc import __version__

    parser = argparse.ArgumentParser(
        prog="nnxc",
        description="Kohn-Sham DFT with libxc and neural exchange-correlation functionals, "
        "on any structure file ASE reads.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND", required=True)
    for module_name in SUBCOMMANDS:
        module = _load(module_name)
        sub = commands.add_parser(
            module.NAME,
            help=module.HELP,
            description=module.__doc__,
            epilog=_EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text or type(err).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``nnxc`` with ``argv`` (``sys.argv[1:]`` when ``None``) and return the exit status.

    Argument errors exit through ``argparse`` with status 2; a :class:`CommandError`, an ASE
    ``CalculatorError`` (``InputError``, ``SCFError``, ...) or an ``OSError`` prints
    ``nnxc COMMAND: error: ...`` on stderr and returns 2.
    """
    from ase.calculators.calculator import CalculatorError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except CalculatorError as err:
        message = f"{type(err).__name__}: {_one_line(err)}"
    except (CommandError, OSError) as err:
        message = _one_line(err)
    except KeyboardInterrupt:
        print(f"nnxc {args.command}: interrupted", file=sys.stderr)
        return 130
    if os.environ.get("RANK", "0") == "0":  # under torchrun every rank fails alike: one line is enough
        print(f"nnxc {args.command}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())

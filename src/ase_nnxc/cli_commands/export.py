"""Export a trained functional's neural part for other codes.

--format torchscript writes FILE, a TorchScript module that needs torch (or LibTorch) only,
and FILE.json, its sidecar: the base functional's libxc name, the family and number of
density variables, exact exchange, the basis and grid the functional was trained with, its
D4 parameters if any, and the SHA-256 of FILE. The module maps the feature map on a batch of
grid points (nspin, nvar, ngrid) and the base functional's energy density (ngrid,) to the
exchange-correlation energy density (ngrid,); the potential is its autograd derivative.
NNXC(xc=FILE), `nnxc energy --xc FILE` and ase_nnxc.pyscf.make_ks(mol, FILE) load it back,
refusing a file whose SHA-256 differs from the sidecar's. See docs/pyscf.md.

Example:
  nnxc export nnxc -o nnxc.pt --format torchscript

"""

from __future__ import annotations

import argparse

NAME = "export"
HELP = "write a trained functional's neural part as a TorchScript file with a JSON sidecar"
FORMATS = ("torchscript",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``nnxc export``."""
    parser.add_argument("model", metavar="MODEL", help="a shipped functional name (nnxc, ...) or a checkpoint path")
    parser.add_argument(
        "-o", "--output", required=True, metavar="FILE", help="TorchScript file to write (FILE.json too)"
    )
    parser.add_argument(
        "--format", choices=FORMATS, default="torchscript", help="artefact format (default: torchscript)"
    )


def run(args: argparse.Namespace) -> int:
    """Export and print the two paths and the SHA-256; returns the exit status."""
    from ase_nnxc.cli import CommandError
    from ase_nnxc.plugins.manager import PluginError
    from ase_nnxc.xc import get_functional
    from ase_nnxc.xc.torchscript import TorchScriptError, export_torchscript, sidecar_path

    try:
        functional = get_functional(args.model)
    except (ValueError, PluginError) as err:
        raise CommandError(f"MODEL {args.model!r}: {err}") from err
    try:
        sidecar = export_torchscript(functional, args.output)
    except TorchScriptError as err:
        raise CommandError(f"MODEL {args.model!r}: {err}") from err
    print(f"wrote {args.output} (sha256 {sidecar['sha256']})")
    print(f"wrote {sidecar_path(args.output)} (base {sidecar['base']}, {sidecar['family']}, nvar {sidecar['nvar']})")
    return 0

"""Accuracy of functionals on G2 atomisation energies, atomic ionisation energies and the H2 curve.

A thin caller of ``nnxc benchmark g2`` (``ase_nnxc.benchmarks.g2_report.run_g2``), kept so that
the commands quoted in the README and docs work as they are.

Every functional named with ``--xc`` is run by ase_nnxc; ``--reference`` functionals are run by
PySCF in the same invocation, on the same molecules, basis and grid. Energies are cached per
method (``--cache``), so an interrupted run continues where it stopped. Writes ``table.md``,
``errors.csv``, ``report.md`` and plots (parity, error histograms, H2 curve) to ``--out``.

Reference data: experimental atomisation energies of ASE's G2-1 and G2-2 molecules (zero-point
free), NIST ionisation energies of H-Ar, and an FCI/aug-cc-pVQZ H2 curve computed here.

    python benchmarks/accuracy.py --xc nnxc pbe              # the shipped functional and PBE
    python benchmarks/accuracy.py --xc pbe --subset train     # quick look at the training pool
    python benchmarks/accuracy.py --xc nnxc --h2-basis def2-qzvp   # H2 also near the basis limit
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "2")

from ase_nnxc.benchmarks.g2_report import run_g2  # noqa: E402
from ase_nnxc.cli_commands.benchmark import add_g2_arguments  # noqa: E402


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_g2_arguments(parser)
    args = parser.parse_args(argv)
    command = "python benchmarks/accuracy.py " + " ".join(sys.argv[1:] if argv is None else argv)
    print(run_g2(args.xc, args.reference, args.basis, args.grid_level, args.subset, not args.no_h2, args.h2_basis,
                 args.cached_only, args.cache, args.out, command))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())

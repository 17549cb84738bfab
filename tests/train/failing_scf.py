"""``nnxc`` with the SCF of one system failing: failure handling under torchrun.

``FAIL_RECORD`` names a file. If it is empty or missing, the first system converged by rank
``FAIL_RANK`` becomes the failing one and is written there; from then on every SCF of that
system on that rank (on every process when ``FAIL_RANK`` is unset) raises ``SCFNotConverged``,
as a real non-converging run does, through the trainer's retry and its failure handling.
"""

import os
import sys
from pathlib import Path

from ase_nnxc.scf import SCFNotConverged
from ase_nnxc.train import predict

RECORD = Path(os.environ["FAIL_RECORD"])
FAIL_RANK = os.environ.get("FAIL_RANK")
_run_scf = predict.run_scf


def _identity(ks) -> str:
    system = ks.system
    return f"{system.numbers} {system.charge} {system.spin} {system.positions.round(6).tolist()}"


def run_scf(ks, guess=None):
    if FAIL_RANK is None or os.environ.get("RANK", "0") == FAIL_RANK:
        if not RECORD.exists() or not RECORD.read_text():
            RECORD.write_text(_identity(ks))
        if RECORD.read_text() == _identity(ks):
            raise SCFNotConverged("SCF not converged (injected by the test)", 1e-3, 1e-2)
    return _run_scf(ks, guess)


predict.run_scf = run_scf

if __name__ == "__main__":
    from ase_nnxc.cli import main

    sys.exit(main())

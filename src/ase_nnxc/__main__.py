"""``python -m ase_nnxc``: the ``nnxc`` command."""

import sys

from ase_nnxc.cli import main

sys.exit(main())

"""Subcommands of the ``nnxc`` command, one module each (see :mod:`ase_nnxc.cli`)."""

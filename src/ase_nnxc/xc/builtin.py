"""Built-in functionals registered through the same hook third-party plugins use."""

from __future__ import annotations

from ase_nnxc.plugins import hookimpl

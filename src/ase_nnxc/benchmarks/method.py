"""What a benchmark column is: a functional, the code that runs it, basis, grid and integrals."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

_FUNCTIONALS: dict = {}


@dataclass(frozen=True)
class Method:
    """A functional, the code that runs it, its basis, grid and two-electron treatment.

    Parameters
    ----------
    xc
        For ``engine="nnxc"`` anything ``NNXC(xc=...)`` accepts (a libxc name, a registered or
        plugin name such as ``nnxc``, a checkpoint path); for ``engine="pyscf"`` a libxc name.
    engine
        ``"nnxc"`` (ase_nnxc's Kohn-Sham core) or ``"pyscf"`` (the reference column).
    basis, grid_level
        Basis set (``None``: the functional's own default basis, else def2-SVP) and grid level.
    density_fit, auxbasis
        Fit Coulomb and exchange in an auxiliary basis (``None``: PySCF's default for it).
    label
        Column name in reports (default: ``xc``, with ``(PySCF)`` for PySCF).

    """

    xc: str
    engine: str = "nnxc"
    basis: str | None = None
    grid_level: int = 3
    density_fit: bool = False
    auxbasis: str | None = None
    label: str | None = None

    def __post_init__(self) -> None:
        if self.engine not in ("nnxc", "pyscf"):
            raise ValueError(f"engine must be 'nnxc' or 'pyscf', not {self.engine!r}")
        if self.auxbasis is not None and not self.density_fit:
            raise ValueError(f"auxbasis {self.auxbasis!r} needs density_fit=True")

    @property
    def name(self) -> str:
        """Display name."""
        if self.label:
            return self.label
        return f"{self.xc} (PySCF)" if self.engine == "pyscf" else self.xc

    def resolved_basis(self) -> str:
        """The basis actually used."""
        if self.basis:
            return self.basis
        if self.engine == "nnxc":
            return getattr(self.functional(), "default_basis", None) or "def2-svp"
        return "def2-svp"

    def functional(self):
        """The ase_nnxc functional (built once per name)."""
        from ase_nnxc.xc.registry import get_functional

        if self.engine != "nnxc":
            raise ValueError("only ase_nnxc methods have an ase_nnxc functional")
        if self.xc not in _FUNCTIONALS:
            _FUNCTIONALS[self.xc] = get_functional(self.xc)
        return _FUNCTIONALS[self.xc]

    def checkpoint_digest(self) -> str | None:
        """First 12 hex digits of the SHA-256 of the functional's checkpoint, if it has one."""
        checkpoint = getattr(self.functional(), "checkpoint_path", None) if self.engine == "nnxc" else None
        return hashlib.sha256(Path(checkpoint).read_bytes()).hexdigest()[:12] if checkpoint else None

    def cache_name(self) -> str:
        """File name of this method's cache; retrained weights (another checkpoint hash) never reuse it."""
        xc, digest = self.xc, self.checkpoint_digest()
        if digest:
            xc = f"{Path(self.functional().checkpoint_path).stem}-{digest}"
        fit = ("-df" + (f"-{self.auxbasis}" if self.auxbasis else "")) if self.density_fit else ""
        slug = "".join(c if c.isalnum() or c in "-_." else "_" for c in f"{xc}".lower())
        fit = "".join(c if c.isalnum() or c in "-_." else "_" for c in fit.lower())
        return f"{self.engine}-{slug}-{self.resolved_basis().lower()}-g{self.grid_level}{fit}.json"

    def header(self) -> dict:
        """What the cache holds, written into its file."""
        return {
            "xc": self.xc, "engine": self.engine, "basis": self.resolved_basis(), "grid_level": self.grid_level,
            "density_fit": self.density_fit, "auxbasis": self.auxbasis, "checkpoint_sha256": self.checkpoint_digest(),
        }  # fmt: skip

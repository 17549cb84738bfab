"""Settings of a Kohn-Sham calculation, validated once."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SCFConfig:
    """How the self-consistent field is solved (atomic units)."""

    conv_tol: float = 1e-9
    """Convergence threshold on the energy change between cycles (Hartree)."""
    conv_tol_grad: float | None = None
    """Threshold on the orbital-gradient norm; ``sqrt(conv_tol)`` when ``None``."""
    max_cycle: int = 100
    """Cycles allowed per attempt."""
    diis_space: int = 8
    """Number of Fock/error pairs DIIS extrapolates over."""
    diis_start_cycle: int = 1
    """First cycle that uses DIIS."""
    damping: float = 0.0
    """Fraction of the previous density mixed into the new one (0 = none)."""
    level_shift: float = 0.0
    """Virtual-orbital level shift in Hartree (0 = none)."""
    fallback: bool = True
    """If DIIS fails, minimise the energy directly from the best cycle's orbitals, then, if that
    fails too, retry DIIS from the best density with damping 0.3 and level shift 0.25."""
    grid_level: int = 3
    """PySCF grid level, 0 (coarse) to 9 (fine)."""
    jk_mode: str = "auto"
    """Exact two-electron builds: ``auto``, ``incore`` or ``direct`` (unused with ``density_fit``)."""
    density_fit: bool = False
    """Fit Coulomb and exact exchange in an auxiliary basis, as PySCF's ``mf.density_fit()``."""
    auxbasis: str | None = None
    """Auxiliary basis for ``density_fit``; ``None`` takes PySCF's default for the basis and
    functional (def2 bases: def2-universal-jfit for pure functionals, -jkfit for hybrids)."""
    init_guess: str = "minao"
    """Initial guess when no density is supplied: PySCF's ``minao``, ``atom``, ``huckel`` or ``1e``."""
    break_symmetry: bool = False
    """Unrestricted runs only: start every SCF, warm starts included, from the guess's orbitals with
    each spin's highest filled and lowest empty orbital mixed by +45 degrees (alpha) and -45
    degrees (beta); if the SCF still ends spin-symmetric, test that solution by a small mixing
    and go downhill if it is a saddle point. So a closed shell can reach a lower broken-symmetry
    solution (stretched bonds, beyond the Coulson-Fischer point); where none exists the SCF
    returns the symmetric one."""
    require_aufbau: bool = True
    """Accept a converged density only if no empty orbital lies below a filled one. Open-shell
    atoms with partly filled degenerate shells may have no such integer-occupation solution;
    training turns this off so their stationary (variational) states still count."""
    max_memory_mb: float = 4000.0
    """Memory for cached ERIs and AO values."""
    verbose: bool = False
    """Print one line per cycle."""

    def __post_init__(self) -> None:
        if not self.conv_tol > 0:
            raise ValueError(f"conv_tol must be positive, got {self.conv_tol}.")
        if self.conv_tol_grad is not None and not self.conv_tol_grad > 0:
            raise ValueError(f"conv_tol_grad must be positive, got {self.conv_tol_grad}.")
        if int(self.max_cycle) != self.max_cycle or self.max_cycle < 1:
            raise ValueError(f"max_cycle must be a positive integer, got {self.max_cycle}.")
        if not 0 <= self.damping < 1:
            raise ValueError(f"damping must lie in [0, 1), got {self.damping}.")
        if self.level_shift < 0:
            raise ValueError(f"level_shift must be non-negative, got {self.level_shift}.")
        if int(self.grid_level) != self.grid_level or not 0 <= self.grid_level <= 9:
            raise ValueError(f"grid_level must be an integer from 0 to 9, got {self.grid_level}.")
        if self.jk_mode == "density_fit":
            raise ValueError("Density fitting is switched on by density_fit=True, not by jk_mode.")
        if self.jk_mode not in ("auto", "incore", "direct"):
            raise ValueError(f"jk_mode must be auto, incore or direct, got {self.jk_mode!r}.")
        if not isinstance(self.density_fit, bool):
            raise ValueError(f"density_fit must be True or False, got {self.density_fit!r}.")
        if self.auxbasis is not None:
            if not isinstance(self.auxbasis, str) or not self.auxbasis.strip():
                raise ValueError(f"auxbasis must be a basis set name or None, got {self.auxbasis!r}.")
            if not self.density_fit:
                raise ValueError(f"auxbasis={self.auxbasis!r} is only used with density_fit=True.")
        if not isinstance(self.break_symmetry, bool):
            raise ValueError(f"break_symmetry must be True or False, got {self.break_symmetry!r}.")
        if self.init_guess not in ("minao", "atom", "huckel", "1e"):
            raise ValueError(f"init_guess must be minao, atom, huckel or 1e, got {self.init_guess!r}.")

    @property
    def gradient_tolerance(self) -> float:
        """The orbital-gradient threshold in force."""
        return self.conv_tol_grad if self.conv_tol_grad is not None else self.conv_tol**0.5

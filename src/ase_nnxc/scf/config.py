"""Settings of a Kohn-Sham calculation, validated once.

Every numeric option is checked for its type, finiteness and range when the configuration is
built, so a value that would silently give an unconverged or meaningless energy (``conv_tol=1``,
``level_shift=nan``) is refused with a message naming it.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

#: Loosest energy threshold accepted (Hartree): looser ones leave energies unconverged by more
#: than the 1.6e-3 Hartree of chemical accuracy (``conv_tol=1`` gave H2O 2.2 eV too high).
MAX_CONV_TOL = 1e-4
#: Loosest commutator threshold accepted (``sqrt(MAX_CONV_TOL)``, the default pairing).
MAX_CONV_TOL_GRAD = 1e-2
#: Largest level shift accepted (Hartree); beyond it convergence only slows down.
MAX_LEVEL_SHIFT = 10.0


@dataclass(frozen=True)
class SCFConfig:
    """How the self-consistent field is solved (atomic units)."""

    conv_tol: float = 1e-9
    """Convergence threshold on the energy change between cycles (Hartree)."""
    conv_tol_grad: float | None = None
    """Threshold on the orbital-gradient norm; ``sqrt(conv_tol)`` when ``None``."""
    max_cycle: int = 100
    """Cycles allowed per attempt."""
    max_total_cycles: int | None = None
    """Fock builds allowed over the whole fallback chain (DIIS, direct minimisation, damped
    DIIS, the broken-symmetry saddle test); ``None``: ``2 * max_cycle``. Bounds the time of any
    SCF, converged or not."""
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
    """Memory (MB) of a calculation: in-core ERIs or the fitted 3-index tensor first (each kept in
    memory only when it fits, as in PySCF), AO values on the grid in half of what is left, working
    buffers in the rest."""
    verbose: bool = False
    """Print one line per cycle."""

    def __post_init__(self) -> None:
        _real(self, "conv_tol", low=0.0, high=MAX_CONV_TOL, open_low=True, unit=" Hartree")
        if self.conv_tol_grad is not None:
            _real(self, "conv_tol_grad", low=0.0, high=MAX_CONV_TOL_GRAD, open_low=True)
        _integer(self, "max_cycle", low=1)
        if self.max_total_cycles is not None:
            _integer(self, "max_total_cycles", low=1)
        _integer(self, "diis_space", low=0)
        _integer(self, "diis_start_cycle", low=0)
        _real(self, "damping", low=0.0, high=1.0, open_high=True)
        _real(self, "level_shift", low=0.0, high=MAX_LEVEL_SHIFT, unit=" Hartree")
        _integer(self, "grid_level", low=0, high=9)
        _real(self, "max_memory_mb", low=0.0, high=math.inf, open_low=True)
        if self.jk_mode == "density_fit":
            raise ValueError("Density fitting is switched on by density_fit=True, not by jk_mode.")
        if self.jk_mode not in ("auto", "incore", "direct"):
            raise ValueError(f"jk_mode must be auto, incore or direct, got {self.jk_mode!r}.")
        for name in ("fallback", "density_fit", "break_symmetry", "require_aufbau", "verbose"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}.")
        if self.auxbasis is not None:
            if not isinstance(self.auxbasis, str) or not self.auxbasis.strip():
                raise ValueError(f"auxbasis must be a basis set name or None, got {self.auxbasis!r}.")
            if not self.density_fit:
                raise ValueError(f"auxbasis={self.auxbasis!r} is only used with density_fit=True.")
        if self.init_guess not in ("minao", "atom", "huckel", "1e"):
            raise ValueError(f"init_guess must be minao, atom, huckel or 1e, got {self.init_guess!r}.")

    @property
    def cycle_budget(self) -> int:
        """Fock builds allowed over the whole SCF, fallbacks included (:attr:`max_total_cycles`)."""
        return self.max_total_cycles if self.max_total_cycles is not None else 2 * self.max_cycle

    @property
    def gradient_tolerance(self) -> float:
        """The orbital-gradient threshold in force."""
        return self.conv_tol_grad if self.conv_tol_grad is not None else self.conv_tol**0.5


def _real(config, name: str, low: float, high: float, open_low=False, open_high=False, unit: str = "") -> None:
    """Check that option ``name`` is a finite real number in its range (``math.inf``: unbounded)."""
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r} ({type(value).__name__}).")
    value = float(value)
    below = value <= low if open_low else value < low
    above = value >= high if open_high else value > high
    if not math.isfinite(value) or below or above:
        interval = f"{'(' if open_low else '['}{low:g}, {high:g}{')' if open_high else ']'}"
        raise ValueError(f"{name} must be a finite number in {interval}{unit}, got {value!r}.")
    object.__setattr__(config, name, value)


def _integer(config, name: str, low: int, high: int | None = None) -> None:
    """Check that option ``name`` is an integer (an integral float is accepted) in ``[low, high]``."""
    value = getattr(config, name)
    integral = isinstance(value, numbers.Integral) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not integral:
        raise ValueError(f"{name} must be an integer, got {value!r} ({type(value).__name__}).")
    value = int(value)
    if value < low or (high is not None and value > high):
        bound = f"from {low} to {high}" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be an integer {bound}, got {value}.")
    object.__setattr__(config, name, value)

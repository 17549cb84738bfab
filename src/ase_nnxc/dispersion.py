"""DFT-D4 dispersion (the ``dftd4`` library): an additive energy and gradient after the SCF.

Dispersion never enters the Kohn-Sham matrix: the calculator and the benchmark runner add
:func:`dispersion_energy_gradient` to the converged energy and its gradient to the forces.
Parameters (rational damping with the three-body ATM term, dftd4's default ``bj-eeq-atm``)
come from dftd4's own table for libxc functionals, travel with a trained functional in its
checkpoint, or are given explicitly:

>>> from ase_nnxc.dispersion import d4_parameters, dispersion_energy_gradient
>>> params = d4_parameters("r2scan")            # dftd4's r2SCAN-D4 row
>>> params.as_dict()["s8"]
0.6018749
>>> energy, gradient = dispersion_energy_gradient([8, 1, 1], positions_bohr, 0, params)  # doctest: +SKIP

How a functional finds its parameters (:func:`d4_parameters`): a ``dispersion`` attribute,
``{"model": "d4", "parameters": {...}}`` (a checkpoint's metadata key of the same name, which
any plugin functional may also carry), else a :class:`~ase_nnxc.xc.neural.HybridXC`'s base
functional, else the libxc name looked up in dftd4's table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

#: Install command named by the ImportError when dftd4 is missing.
INSTALL = "pip install dftd4"
#: dftd4's default parameter set: Becke-Johnson damping, EEQ charges, ATM three-body term.
DEFAULT_SET = "bj-eeq-atm"

#: dftd4 method -> the spellings PySCF's libxc parser gives the same functional. A libxc
#: expression matches when PySCF parses it to the same components (``"pbe,pbe"`` and
#: ``"gga_x_pbe,gga_c_pbe"`` are ``"pbe"``). Only pairs checked to be the functional dftd4 fitted.
LIBXC_SPELLINGS: dict[str, tuple[str, ...]] = {
    "hf": ("hf",),
    "pbe": ("pbe", "torch-pbe"),
    "revpbe": ("revpbe",),
    "rpbe": ("rpbe",),
    "pbesol": ("pbesol",),
    "blyp": ("blyp",),
    "bp": ("bp86",),
    "bpbe": ("bpbe",),
    "olyp": ("olyp",),
    "opbe": ("opbe",),
    "xlyp": ("xlyp",),
    "pw91": ("pw91",),
    "b97d": ("b97-d",),
    "tpss": ("tpss",),
    "revtpss": ("revtpss",),
    "scan": ("scan",),
    "rscan": ("rscan",),
    "r2scan": ("r2scan",),
    "m06l": ("m06l", "m06-l"),
    # dftd4 has one B3LYP row; PySCF's "b3lyp" (VWN-RPA, as libxc and Gaussian) and "b3lyp5"
    # (VWN5, as TURBOMOLE and ORCA, where D4 was fitted) differ far below dispersion's accuracy.
    "b3lyp": ("b3lyp", "b3lyp5", "b3lypg"),
    "b3pw": ("b3pw91",),
    "b3p": ("b3p86",),
    "b1lyp": ("b1lyp",),
    "o3lyp": ("o3lyp",),
    "x3lyp": ("x3lyp",),
    "bhlyp": ("bhandhlyp",),
    "pbe0": ("pbe0", "pbeh"),
    "revpbe0": ("revpbe0",),
    "tpssh": ("tpssh",),
    "tpss0": ("tpss0",),
    "revtpssh": ("revtpssh",),
    "m06": ("m06",),
    "pw6b95": ("pw6b95",),
    "b97": ("b97",),
    "b1b95": ("b1b95",),
    "mpw1b95": ("mpw1b95",),
    "mpwb1k": ("mpwb1k",),
    "mpw1pw": ("mpw1pw",),
    "camb3lyp": ("cam-b3lyp", "camb3lyp"),
    "hse03": ("hse03",),
    "hse06": ("hse06",),
    "hse12": ("hse12",),
    "wb97": ("wb97",),
    # libxc's wB97X is the 2008 functional; dftd4's "wb97x" is wB97X-V with D4 in place of VV10.
    "wb97x-2008": ("wb97x",),
    "r2scanh": ("r2scanh",),
    "r2scan0": ("r2scan0",),
    "r2scan50": ("r2scan50",),
}


@dataclass(frozen=True, kw_only=True)
class D4Parameters:
    """Rational damping parameters of DFT-D4 (energies in Hartree, lengths in Bohr).

    ``E = -sum_AB sum_{n=6,8} s_n C_n^AB / (R_AB^n + (a1 R0_AB + a2)^n) + s9 E_ATM``.
    """

    s6: float = 1.0
    """Scale of the C6 (dipole-dipole) term."""
    s8: float
    """Scale of the C8 (dipole-quadrupole) term."""
    a1: float
    """Scale of the critical radius ``R0_AB = sqrt(C8/C6)`` in the damping."""
    a2: float
    """Offset of the damping radius, Bohr."""
    s9: float = 1.0
    """Scale of the Axilrod-Teller-Muto three-body term (0 switches it off)."""
    alp: float = 16.0
    """Exponent of the zero damping of the three-body term."""
    functional: str = "user"
    """Whose parameters these are (the dftd4 table row, or ``"user"``)."""
    source: str = "explicit parameters"
    """Where they come from, in words (table, checkpoint, user input)."""

    def __post_init__(self) -> None:
        for name in ("s6", "s8", "a1", "a2", "s9", "alp"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
                raise ValueError(f"D4 parameter {name} must be a number, got {value!r}.")
            if not math.isfinite(value):
                raise ValueError(f"D4 parameter {name} must be finite, got {value!r}.")
            object.__setattr__(self, name, float(value))
        if self.a1 < 0 or self.a2 < 0 or self.a1 + self.a2 == 0:
            raise ValueError(f"D4 damping needs a1 >= 0, a2 >= 0 and not both zero, got a1={self.a1}, a2={self.a2}.")
        if self.alp <= 0:
            raise ValueError(f"D4 parameter alp must be positive, got {self.alp}.")
        for name in ("functional", "source"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"D4 parameter {name} must be a string, got {getattr(self, name)!r}.")

    def as_dict(self) -> dict:
        """JSON-able form: ``s6, s8, a1, a2, s9, alp, functional, source``."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, values: Mapping, functional: str = "user", source: str = "explicit parameters") -> D4Parameters:
        """Parameters from a mapping with ``s8, a1, a2`` (``s6, s9, alp`` optional).

        ``functional`` and ``source`` keys of ``values`` win over the arguments, so that
        ``from_dict(p.as_dict()) == p``.

        Raises
        ------
        ValueError
            Unknown or missing keys (the message names them) or bad values.

        """
        if not isinstance(values, Mapping):
            raise ValueError(
                f"D4 parameters must be a mapping such as {{'s8': ..., 'a1': ..., 'a2': ...}}, not {values!r}."
            )
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"Unknown D4 parameter(s) {', '.join(map(repr, unknown))}; known: {', '.join(sorted(known))}."
            )
        missing = [name for name in ("s8", "a1", "a2") if name not in values]
        if missing:
            raise ValueError(
                f"D4 parameters lack {', '.join(missing)} (s8, a1 and a2 are required; s6, s9, alp optional)."
            )
        return cls(**{"functional": functional, "source": source, **values})


def _dftd4():
    try:
        import dftd4.interface
    except ImportError as err:
        raise ImportError(f"D4 dispersion needs the dftd4 package: {INSTALL}") from err
    return dftd4


@lru_cache(maxsize=1)
def _table() -> dict[str, D4Parameters]:
    """dftd4's parameter file, ``bj-eeq-atm`` rows, keyed by the normalised method name."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    dftd4 = _dftd4()
    path = Path(dftd4.__file__).parent / "parameters.toml"
    data = tomllib.loads(path.read_text())
    defaults = data["default"]["parameter"]["d4"][DEFAULT_SET]
    table = {}
    for method, entry in data["parameter"].items():
        row = entry.get("d4", {}).get(DEFAULT_SET)
        # Composite methods (r2SCAN-3c, wB97X-3c) belong to their own basis and gCP term;
        # the DFTB rows to tight binding.
        if row is None or method.endswith("-3c") or method.startswith("dftb"):
            continue
        values = {k: v for k, v in {**defaults, **row}.items() if k in ("s6", "s8", "a1", "a2", "s9", "alp")}
        doi = f", doi:{row['doi']}" if "doi" in row else ""
        source = f"dftd4 {dftd4.__version__} parameter table, method {method!r} ({DEFAULT_SET}{doi})"
        table[_normalise(method)] = D4Parameters.from_dict(values, functional=method, source=source)
    return table


def _normalise(name: str) -> str:
    return "".join(c for c in name.lower() if c not in " -_")


def _libxc_key(name: str):
    """PySCF's parse of a libxc expression (hybrid mixing and components), or ``None``."""
    from pyscf.dft import libxc

    try:
        hybrid, components = libxc.parse_xc(name)
    except (KeyError, ValueError, NotImplementedError, TypeError, IndexError, AttributeError):
        return None
    return (
        tuple(round(float(x), 10) for x in hybrid),
        tuple(sorted((int(i), round(float(w), 10)) for i, w in components)),
    )


@lru_cache(maxsize=1)
def _spellings() -> tuple[dict, dict]:
    """Normalised spelling -> dftd4 method, and libxc parse -> dftd4 method."""
    names, parses = {}, {}
    for method, spellings in LIBXC_SPELLINGS.items():
        for spelling in spellings:
            names[_normalise(spelling)] = method
            key = _libxc_key(spelling)
            if key is not None:
                parses.setdefault(key, method)
    return names, parses


def _is_nlc(name: str) -> bool:
    from pyscf.dft import libxc

    try:
        return libxc.xc_type(name) != "HF" and bool(libxc.is_nlc(name))
    except (KeyError, ValueError, NotImplementedError, TypeError, IndexError, AttributeError):
        return False


def _explain(name: str) -> str:
    return (
        f"No D4 parameters for functional {name!r} in dftd4's table. Give them explicitly: "
        "NNXC(dispersion={'s8': ..., 'a1': ..., 'a2': ...}) (s6, s9, alp optional; the same dict for "
        "d4_parameters or a training config's 'dispersion' key), or use a functional dftd4 knows "
        "(pbe, revpbe, blyp, bp86, tpss, scan, r2scan, pbe0, b3lyp, cam-b3lyp, r2scanh, ...)."
    )


def _from_table(name: str) -> D4Parameters:
    """The table row for a libxc spelling or a dftd4 method name."""
    if _is_nlc(name):
        raise ValueError(
            f"Functional {name!r} already includes VV10 non-local dispersion; D4 on top would count it twice."
        )
    names, parses = _spellings()
    method = names.get(_normalise(name))
    if method is None:
        method = parses.get(_libxc_key(name))
    table = _table()
    if method is not None:
        return table[_normalise(method)]
    if _normalise(name) in table and _libxc_key(name) is None:
        # A dftd4 method name that is no libxc name PySCF knows (b97m, b2plyp, lh20t, ...).
        return table[_normalise(name)]
    raise ValueError(_explain(name))


def _stored(functional, stored) -> D4Parameters:
    name = getattr(functional, "name", type(functional).__name__)
    where = getattr(functional, "checkpoint_path", None) or f"functional {name!r}"
    if not isinstance(stored, Mapping) or str(stored.get("model", "")).lower() != "d4" or "parameters" not in stored:
        raise ValueError(
            f"{where}: stored dispersion must be {{'model': 'd4', 'parameters': {{...}}}}, got {stored!r}."
        )
    values = dict(stored["parameters"])
    original = values.pop("source", None)
    row = str(values.pop("functional", name))
    source = f"stored with the weights of {name!r} ({where})" + (f"; originally {original}" if original else "")
    try:
        return D4Parameters.from_dict(values, functional=row, source=source)
    except ValueError as err:
        raise ValueError(f"{where}: stored D4 parameters: {err}") from err


def d4_parameters(functional) -> D4Parameters:
    """The D4 parameters that belong to ``functional``.

    Parameters
    ----------
    functional
        A :class:`D4Parameters` (returned as it is); a mapping of explicit parameters
        (``s8, a1, a2``, optional ``s6, s9, alp``); an :class:`~ase_nnxc.xc.base.XCFunctional`;
        or a name as ``NNXC(xc=...)`` takes it (registered name such as ``"nnxc"``,
        checkpoint path, libxc name), or a dftd4 method name.

    Returns
    -------
    D4Parameters
        With ``functional`` the table row used and ``source`` saying where they come from. A
        trained functional gives the parameters stored with its weights or, when it has none,
        its base functional's (the shipped ``nnxc``: r2SCAN's).

    Raises
    ------
    ValueError
        No parameters are known for it (the message names it and says how to give them), the
        functional includes VV10 already, or explicit values are bad.

    """
    if isinstance(functional, D4Parameters):
        return functional
    if isinstance(functional, Mapping):
        return D4Parameters.from_dict(functional)
    from ase_nnxc.xc.base import XCFunctional

    if isinstance(functional, str):
        from ase_nnxc.plugins import manager

        # The order of get_functional: registered names, then checkpoint files, then libxc names.
        path = Path(functional).expanduser()
        checkpoint = path.suffix in (".pt", ".pth") or path.is_file()
        if manager.base_functionals().get(functional.lower()) is None and not checkpoint:
            return _from_table(functional)
        from ase_nnxc.xc.registry import get_functional

        functional = get_functional(functional)
    if not isinstance(functional, XCFunctional):
        raise ValueError(f"D4 parameters need a functional name, an XCFunctional or a dict, not {functional!r}.")
    stored = getattr(functional, "dispersion", None)
    if stored is not None:
        return _stored(functional, stored)
    base = getattr(functional, "base", None)
    if isinstance(base, XCFunctional):
        name = getattr(functional, "name", type(functional).__name__)
        try:
            inherited = d4_parameters(base)
        except ValueError as err:
            raise ValueError(f"{name!r} stores no D4 parameters, nor does its base functional: {err}") from err
        return replace(
            inherited,
            source=f"base functional {base.name!r} of {name!r}, which stores no D4 parameters of its own: "
            f"{inherited.source}",
        )
    return _from_table(getattr(functional, "code", None) or functional.name)


def dispersion_energy_gradient(numbers, positions_bohr, charge, params: D4Parameters) -> tuple[float, np.ndarray]:
    """D4 dispersion energy and its nuclear gradient.

    Parameters
    ----------
    numbers
        Atomic numbers, shape ``(natom,)``.
    positions_bohr
        Nuclear positions in Bohr, shape ``(natom, 3)``.
    charge
        Net charge of the molecule (D4's atomic charges depend on it; spin does not enter).
    params
        :class:`D4Parameters` (or anything :func:`d4_parameters` accepts).

    Returns
    -------
    energy : float
        Hartree.
    gradient : numpy.ndarray
        ``dE/dR``, Hartree/Bohr, shape ``(natom, 3)``; the complete derivative, through D4's
        coordination numbers and charges too.

    Raises
    ------
    ValueError
        Shapes that do not match, non-finite positions, or an element or geometry dftd4 rejects.

    """
    params = d4_parameters(params)
    numbers = np.asarray(numbers, dtype=np.int32).reshape(-1)
    positions = np.array(positions_bohr, dtype=np.float64)
    if positions.shape != (numbers.size, 3):
        raise ValueError(
            f"positions_bohr must have shape ({numbers.size}, 3) for {numbers.size} atoms, got {positions.shape}."
        )
    if not np.all(np.isfinite(positions)):
        raise ValueError("positions_bohr contain NaN or infinity.")
    interface = _dftd4().interface
    try:
        model = interface.DispersionModel(numbers, positions, float(charge))
        damping = interface.DampingParam(
            s6=params.s6, s8=params.s8, s9=params.s9, a1=params.a1, a2=params.a2, alp=params.alp
        )
        result = model.get_dispersion(damping, grad=True)
    except RuntimeError as err:
        raise ValueError(f"dftd4 cannot evaluate D4 for atomic numbers {numbers.tolist()}: {err}") from err
    return float(result["energy"]), np.array(result["gradient"])

"""A trained functional's neural part as a TorchScript file, for codes that have LibTorch only.

:func:`export_torchscript` writes two files: ``FILE``, a TorchScript module, and
``FILE.json``, its sidecar. The module is

    forward(features: (nspin, nvar, ngrid), base: (ngrid,)) -> (ngrid,)

``features`` is ase_nnxc's feature map (``[rho, d_x rho, d_y rho, d_z rho, tau]`` truncated to
``nvar``, per spin; ``nspin = 1`` means the total density of a closed shell), ``base`` the
energy density of the base functional, which stays a libxc name in the sidecar and is
evaluated by the consumer's own libxc, and the output is the whole exchange-correlation energy
density (Hartree/Bohr^3) of the trained hybrid: ``a * model + b * base`` for the shipped
functionals. The consumer integrates it with its quadrature weights; the potential is its
autograd derivative through both inputs (``dE/dx = de/dx + de/dbase * dbase/dx``, the last
factor from libxc). The sidecar records the base name, the family and ``nvar``, the exact
exchange (coefficients of PySCF-style ``K`` and range-separated ``K``), the basis and grid the
functional was trained with, its D4 parameters if any, and the file's SHA-256, which
:func:`load_torchscript` checks before anything is loaded.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import warnings
from pathlib import Path

import torch

from ase_nnxc.grid.density import NVAR
from ase_nnxc.integrals.two_electron import ExchangeTerm
from ase_nnxc.xc.base import XCFunctional
from ase_nnxc.xc.features import FeatureMap
from ase_nnxc.xc.libxc import LibXCFunctional

FORMAT = "ase_nnxc-torchscript"
VERSION = 1
#: Largest relative difference allowed between the traced module and the Python functional.
TRACE_TOLERANCE = 1e-12


@contextlib.contextmanager
def _quiet_jit():
    """Silence torch 2.13's deprecation notices of ``torch.jit`` (and the tracer's shape notes).

    TorchScript is still what LibTorch (C++) loads with no compiler at hand, which is this
    artefact's purpose; ``torch.export``'s C++ route (AOTInductor) compiles for each machine.
    Shape checks (nspin, nvar) become constants of each trace, which is what is wanted: one
    trace per spin layout, and :func:`_check_trace` compares the result with the functional.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=r"`torch\.jit")
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        yield


class TorchScriptError(ValueError):
    """A TorchScript artefact cannot be written, or is altered, incomplete or of another format."""


def sidecar_path(path) -> Path:
    """The sidecar of artefact ``path``: the same name with ``.json`` appended."""
    return Path(f"{path}.json")


def file_sha256(path) -> str:
    """Hex SHA-256 of a file."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class _Combine(torch.nn.Module):
    """The hybrid's energy density from the features and the base's energy density (traced)."""

    def __init__(self, hybrid):
        super().__init__()
        self.hybrid = hybrid
        self.nvar_model = NVAR[hybrid.model.family]

    def forward(self, features: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
        return self.hybrid.combine(base, FeatureMap(features[:, : self.nvar_model]))


class _Dispatch(torch.nn.Module):
    """Checks the inputs and picks the trace for a total (nspin 1) or spin-resolved map."""

    def __init__(self, restricted: torch.nn.Module, unrestricted: torch.nn.Module, nvar: int):
        super().__init__()
        self.restricted = restricted
        self.unrestricted = unrestricted
        self.nvar = nvar

    def forward(self, features: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
        if features.dim() != 3 or features.size(1) != self.nvar or features.size(0) not in (1, 2):
            raise ValueError("features must be (nspin, nvar, ngrid) with nspin 1 or 2 and the sidecar's nvar")
        if base.dim() != 1 or base.size(0) != features.size(2):
            raise ValueError("base must be (ngrid,), the base functional's energy density")
        if features.size(0) == 1:
            return self.restricted(features, base)
        return self.unrestricted(features, base)


def random_features(nspin: int, nvar: int, ngrid: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Physical random features ``(nspin, nvar, ngrid)``: densities over 8 decades, ``tau >= tau_W``."""
    rho = 10.0 ** (8.0 * torch.rand(nspin, ngrid, generator=generator, dtype=torch.float64) - 6.0)
    grad = torch.randn(nspin, 3, ngrid, generator=generator, dtype=torch.float64) * rho[:, None]
    parts = [rho[:, None], grad]
    if nvar == 5:
        weizsaecker = (grad * grad).sum(1) / (8.0 * rho)
        extra = rho ** (5.0 / 3.0) * 3.0 * torch.rand(nspin, ngrid, generator=generator, dtype=torch.float64)
        parts.append((weizsaecker + extra)[:, None])
    return torch.cat(parts, 1)[:, :nvar]


def export_torchscript(functional: XCFunctional, path) -> dict:
    """Write ``functional``'s neural part to ``path`` and its sidecar to ``path.json``.

    Parameters
    ----------
    functional
        A :class:`~ase_nnxc.xc.neural.HybridXC` with a libxc base (a trained checkpoint or a
        shipped functional), without ``lda_anchor``.
    path
        The TorchScript file to write.

    Returns
    -------
    dict
        The sidecar's content.

    Raises
    ------
    TorchScriptError
        Another kind of functional, or a trace that does not reproduce the Python functional
        within :data:`TRACE_TOLERANCE` on random features (both spin layouts).

    """
    from ase_nnxc.xc.neural import HybridXC

    if not isinstance(functional, HybridXC):
        raise TorchScriptError(
            f"{functional.name!r} is not a trained hybrid (base + neural model); only those have a neural part to export."
        )
    if not isinstance(functional.base, LibXCFunctional):
        raise TorchScriptError(f"{functional.name!r}: the base {functional.base.name!r} is not a libxc functional.")
    if functional.anchor is not None:
        raise TorchScriptError(
            f"{functional.name!r} uses lda_anchor, whose LSDA term would be a second libxc input; not supported."
        )
    hybrid = copy.deepcopy(functional).requires_grad_(False)
    for module in hybrid.modules():
        module._forward_hooks.clear()  # plugin output checks: Python-side, not part of the math
    nvar = NVAR[hybrid.family]
    generator = torch.Generator().manual_seed(0)
    combine = _Combine(hybrid)
    traces = []
    with _quiet_jit():
        for nspin in (1, 2):
            example = random_features(nspin, nvar, 64, generator)
            traces.append(torch.jit.trace(combine, (example, _base_density(hybrid, example)), check_trace=False))
        module = torch.jit.script(_Dispatch(traces[0], traces[1], nvar))
        for nspin in (1, 2):
            _check_trace(module, hybrid, random_features(nspin, nvar, 1000, generator))
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.jit.save(module, str(path))
    sidecar = {
        "format": FORMAT,
        "version": VERSION,
        "name": functional.name,
        "file": path.name,
        "sha256": file_sha256(path),
        "base": functional.base.code,
        "family": hybrid.family,
        "nvar": nvar,
        "exact_exchange": [{"coefficient": t.coefficient, "omega": t.omega} for t in functional.exchange_terms()],
        "basis": getattr(functional, "default_basis", None),
        "grid_level": getattr(functional, "grid_level", None),
        "dispersion": getattr(functional, "dispersion", None),
        "source": _file_name(getattr(functional, "checkpoint_path", None)),
        "torch": torch.__version__,
        "inputs": {
            "features": "(nspin, nvar, ngrid) float64: [rho, d_x rho, d_y rho, d_z rho, tau][:nvar] per spin "
            "(nspin 1: the total density), atomic units, tau = 1/2 sum_i |grad phi_i|^2",
            "base": "(ngrid,) float64: energy density (rho * eps_xc) of the libxc functional named in base",
        },
        "output": "(ngrid,) float64: exchange-correlation energy density, Hartree/Bohr^3, to be integrated with "
        "the quadrature weights; exact exchange (exact_exchange) is added separately",
    }
    sidecar_path(path).write_text(json.dumps(sidecar, indent=2) + "\n")
    return sidecar


def _file_name(path) -> str | None:
    return None if path is None else Path(path).name


def _base_density(hybrid, features: torch.Tensor) -> torch.Tensor:
    return hybrid.base(FeatureMap(features[:, : NVAR[hybrid.base.family]])).detach()


def _check_trace(module, hybrid, features: torch.Tensor) -> None:
    expected = hybrid(FeatureMap(features)).detach()
    got = module(features, _base_density(hybrid, features))
    error = float(((got - expected).abs() / expected.abs().clamp(min=1e-300)).max())
    if not error <= TRACE_TOLERANCE:
        raise TorchScriptError(
            f"{hybrid.name!r}: the TorchScript trace differs from the functional by {error:.1e} relative "
            f"(nspin {features.shape[0]}); its code has value-dependent branches that tracing cannot follow."
        )


class TorchScriptFunctional(XCFunctional):
    """An exported artefact, loaded back as an ase_nnxc functional (``NNXC(xc=FILE)``).

    Attributes
    ----------
    module : torch.jit.ScriptModule
        The neural part.
    base : LibXCFunctional
        The sidecar's base functional.
    default_basis, grid_level, dispersion
        What the functional was trained with (``None`` when unknown), as on a checkpoint.

    """

    def __init__(self, module, sidecar: dict, path: Path):
        super().__init__()
        self.module = module
        self.base = LibXCFunctional(sidecar["base"])
        self.family = sidecar["family"]
        self.name = sidecar.get("name") or path.stem
        self.default_basis = sidecar.get("basis")
        self.grid_level = sidecar.get("grid_level") or 3
        self.dispersion = sidecar.get("dispersion")
        self.torchscript_path = str(path)
        self._terms = tuple(ExchangeTerm(t["coefficient"], t["omega"]) for t in sidecar.get("exact_exchange", []))

    def exchange_terms(self) -> tuple[ExchangeTerm, ...]:
        return self._terms

    def energy_density(self, features: FeatureMap) -> torch.Tensor:
        stacked = features.stacked
        base = self.base(FeatureMap(stacked[:, : NVAR[self.base.family]]))
        return self.module(stacked, base)


def is_artefact(path) -> bool:
    """Whether ``path`` is a TorchScript file (with a sidecar or a TorchScript archive without one)."""
    path = Path(path)
    if not path.is_file():
        return False
    if sidecar_path(path).is_file():
        return True
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            return any("/code/__torch__" in name for name in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def read_sidecar(path) -> dict:
    """The sidecar of artefact ``path``, validated.

    Raises
    ------
    TorchScriptError
        Missing, unreadable, of another format, lacking a key, or not matching the file's
        SHA-256 (the message says which).

    """
    path = Path(path)
    side = sidecar_path(path)
    if not side.is_file():
        raise TorchScriptError(f"{path}: TorchScript file without its sidecar {side.name} (written by nnxc export)")
    try:
        sidecar = json.loads(side.read_text())
    except (OSError, ValueError) as err:
        raise TorchScriptError(f"{side}: not a readable sidecar ({err})") from err
    if not isinstance(sidecar, dict) or sidecar.get("format") != FORMAT:
        raise TorchScriptError(f"{side}: not an ase_nnxc TorchScript sidecar")
    if sidecar.get("version") != VERSION:
        raise TorchScriptError(f"{side}: sidecar version {sidecar.get('version')} is not supported (want {VERSION})")
    for key in ("sha256", "base", "family", "nvar"):
        if key not in sidecar:
            raise TorchScriptError(f"{side}: sidecar lacks {key!r}")
    digest = file_sha256(path)
    if digest != sidecar["sha256"]:
        raise TorchScriptError(
            f"{path}: SHA-256 {digest} does not match {sidecar['sha256']} recorded in {side.name}; "
            "the file was changed after export, refusing to load it"
        )
    return sidecar


def load_torchscript(path) -> TorchScriptFunctional:
    """Load an artefact written by :func:`export_torchscript`, after checking its SHA-256."""
    path = Path(path)
    sidecar = read_sidecar(path)
    try:
        with _quiet_jit():
            module = torch.jit.load(str(path), map_location="cpu")
    except Exception as err:  # torch raises several types for bad archives
        raise TorchScriptError(f"{path}: not a loadable TorchScript file ({type(err).__name__}: {err})") from err
    return TorchScriptFunctional(module, sidecar, path)

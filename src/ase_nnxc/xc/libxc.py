"""Named functionals evaluated by libxc through PySCF, as differentiable torch modules.

Any name PySCF's libxc parser accepts works (``"lda,vwn"``, ``"pbe"``, ``"b3lyp"``,
``"r2scan"``, ``"wb97x"``, ...). The autograd Function's backward uses libxc's own first
derivatives and, for second-order work (implicit differentiation), its second derivatives.
"""

from __future__ import annotations

import numpy as np
import torch

from ase_nnxc.integrals.two_electron import ExchangeTerm
from ase_nnxc.xc.base import XCFunctional
from ase_nnxc.xc.features import FeatureMap

_XCTYPE = {"lda": "LDA", "gga": "GGA", "mgga": "MGGA"}


def _numint():
    from pyscf.dft import numint

    return numint.NumInt()


def _evaluate(code: str, family: str, stacked: np.ndarray, deriv: int):
    """Libxc energy per particle and derivatives in PySCF's ``eval_xc_eff`` layout."""
    rho = stacked[0] if stacked.shape[0] == 1 else stacked
    return _numint().eval_xc_eff(code, np.ascontiguousarray(rho), deriv=deriv, xctype=_XCTYPE[family])


class _LibXCSecond(torch.autograd.Function):
    """``grad_e * vxc`` as a function of the features, with libxc's ``fxc`` as its derivative."""

    @staticmethod
    def forward(ctx, stacked, grad_e, vxc, code, family):
        ctx.code, ctx.family = code, family
        ctx.save_for_backward(stacked, grad_e, vxc)
        return grad_e * vxc

    @staticmethod
    def backward(ctx, grad_out):
        stacked, grad_e, vxc = ctx.saved_tensors
        grad_stacked = grad_grad_e = None
        if ctx.needs_input_grad[0]:
            fxc = torch.from_numpy(_evaluate(ctx.code, ctx.family, stacked.detach().numpy(), 2)[2])
            weighted = grad_out * grad_e
            if stacked.shape[0] == 1:
                grad_stacked = torch.einsum("ag,abg->bg", weighted[0], fxc)[None]
            else:
                grad_stacked = torch.einsum("sag,satbg->tbg", weighted, fxc)
        if ctx.needs_input_grad[1]:
            grad_grad_e = (grad_out * vxc).sum((0, 1))
        return grad_stacked, grad_grad_e, None, None, None


class _LibXCEnergy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, stacked, code, family):
        exc, vxc = _evaluate(code, family, stacked.detach().numpy(), 1)[:2]
        vxc = torch.from_numpy(np.asarray(vxc).reshape(stacked.shape))
        ctx.code, ctx.family = code, family
        ctx.save_for_backward(stacked, vxc)
        return torch.from_numpy(exc) * stacked[:, 0].sum(0)

    @staticmethod
    def backward(ctx, grad_e):
        stacked, vxc = ctx.saved_tensors
        return _LibXCSecond.apply(stacked, grad_e, vxc, ctx.code, ctx.family), None, None


class LibXCFunctional(XCFunctional):
    """A libxc functional by name.

    Parameters
    ----------
    code
        A functional name or expression PySCF's libxc parser accepts, e.g. ``"pbe"``,
        ``"b3lyp"``, ``"0.8*b88+0.2*hf,lyp"``.

    Examples
    --------
    >>> functional = LibXCFunctional("pbe0")
    >>> functional.family, functional.exchange_terms()
    ('gga', (ExchangeTerm(coefficient=0.25, omega=0.0),))

    """

    pointwise = True

    def __init__(self, code: str):
        super().__init__()
        from pyscf.dft import libxc

        try:
            xctype = libxc.xc_type(code)
        except (KeyError, ValueError, NotImplementedError, TypeError) as err:
            raise ValueError(f"Unknown exchange-correlation functional {code!r}: {err}") from err
        if xctype not in ("LDA", "GGA", "MGGA", "HF"):
            raise ValueError(f"Functional {code!r} has unsupported type {xctype}.")
        if xctype != "HF" and libxc.is_nlc(code):
            raise ValueError(f"Functional {code!r} needs VV10 non-local correlation, which is not supported.")
        self.code = code
        self.name = code
        self.family = "lda" if xctype == "HF" else xctype.lower()
        self._pure_hf = xctype == "HF"
        omega, alpha, hyb = _numint().rsh_and_hybrid_coeff(code)
        self._terms = _exchange_terms(omega, alpha, hyb)

    def exchange_terms(self) -> tuple[ExchangeTerm, ...]:
        return self._terms

    def energy_density(self, features: FeatureMap) -> torch.Tensor:
        if self._pure_hf:
            return features.stacked[0, 0] * 0.0
        return _LibXCEnergy.apply(features.stacked, self.code, self.family)


def _exchange_terms(omega: float, alpha: float, hyb: float) -> tuple[ExchangeTerm, ...]:
    """PySCF's split of exact exchange: ``hyb K + (alpha - hyb) K_LR(omega)``."""
    if omega == 0:
        return (ExchangeTerm(hyb),) if hyb != 0 else ()
    if alpha == 0:
        return (ExchangeTerm(hyb, -omega),)
    if hyb == 0:
        return (ExchangeTerm(alpha, omega),)
    return (ExchangeTerm(hyb), ExchangeTerm(alpha - hyb, omega))


def is_libxc_name(code: str) -> bool:
    """Whether PySCF's libxc parser accepts ``code``."""
    try:
        LibXCFunctional(code)
    except ValueError:
        return False
    return True


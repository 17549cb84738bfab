"""Implicit differentiation of the converged density w.r.t. functional parameters.

At self-consistency the occupied-virtual Fock elements vanish,
``r_ai(theta) = c_a^T F(D(theta); theta) c_i = 0``. Rotating occupied orbital ``i`` into
virtual ``a`` by ``kappa_ai`` changes the density by ``n_i kappa_ai (c_a c_i^T + c_i c_a^T)`` and
the residual by the orbital Hessian

    (A kappa)_ai = (eps_a - eps_i) kappa_ai + c_a^T H[dD(kappa)] c_i,

where ``H`` is the second derivative of the energy in the density matrix (Coulomb, exchange
and XC kernel; applied by double backpropagation). For a loss ``L(D)`` the adjoint
``A^T z = dL/dkappa`` (solved with GMRES, coupled-perturbed Kohn-Sham) gives

    dL/dtheta = - d/dtheta < F(D; theta), X >,   X = sum_ai z_ai c_a c_i^T,

a first derivative at fixed ``D``. No backpropagation through SCF iterations.

Nuclear gradients get the same treatment (:func:`differentiable_nuclear_gradient`): for a
loss gradient ``g = dL/d(dE/dR)`` the scalar ``g . dE/dR``, written as a function of ``D`` and
``theta`` by :func:`ase_nnxc.scf.gradients.gradient_along`, is differentiated in ``theta``
at fixed ``D`` and, through :func:`differentiable_density`, via ``D``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse.linalg
import torch

from ase_nnxc.scf.driver import SCFResult
from ase_nnxc.scf.kohn_sham import KohnSham

#: Relative residual of the coupled-perturbed solve.
CPKS_TOL = 1e-10


class _Blocks:
    """Occupied/virtual orbital blocks of each spin and the flattening of ``kappa``."""

    def __init__(self, result: SCFResult):
        self.occupied, self.virtual, self.occupation, self.gaps, self.sizes = [], [], [], [], []
        for s in range(result.mo_coeff.shape[0]):
            occ = result.mo_occ[s] > 0
            self.occupied.append(result.mo_coeff[s][:, occ])
            self.virtual.append(result.mo_coeff[s][:, ~occ])
            self.occupation.append(result.mo_occ[s][occ])
            self.gaps.append(result.mo_energy[s][~occ][:, None] - result.mo_energy[s][occ][None, :])
            self.sizes.append(int((~occ).sum()) * int(occ.sum()))

    def split(self, flat: torch.Tensor) -> list[torch.Tensor]:
        out, start = [], 0
        for s, size in enumerate(self.sizes):
            out.append(flat[start : start + size].reshape(self.virtual[s].shape[1], self.occupied[s].shape[1]))
            start += size
        return out

    def density_change(self, kappa: list[torch.Tensor]) -> torch.Tensor:
        """``dD_s = sum_ai n_i kappa_ai (c_a c_i^T + c_i c_a^T)``, ``(nspin, nao, nao)``."""
        mats = []
        for s, k in enumerate(kappa):
            half = self.virtual[s] @ (k * self.occupation[s]) @ self.occupied[s].T
            mats.append(half + half.T)
        return torch.stack(mats)

    def project(self, matrices: torch.Tensor) -> torch.Tensor:
        """``c_a^T M_s c_i`` for every spin, flattened."""
        return torch.cat(
            [(self.virtual[s].T @ matrices[s] @ self.occupied[s]).reshape(-1) for s in range(len(self.sizes))]
        )


def _hessian_vector(ks: KohnSham, density: torch.Tensor):
    """Return ``V -> d/dD <dE/dD, V>`` (the energy Hessian in ``D`` applied to ``V``)."""
    dens = density.detach().requires_grad_(True)
    with torch.enable_grad():
        energy, _ = ks.energy(dens)
        (fock,) = torch.autograd.grad(energy, dens, create_graph=True)

    def apply(vector: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():
            (out,) = torch.autograd.grad(fock, dens, vector, retain_graph=True)
        return 0.5 * (out + out.transpose(-1, -2))

    return apply


def solve_adjoint(ks: KohnSham, result: SCFResult, grad_density: torch.Tensor) -> torch.Tensor:
    """Solve the coupled-perturbed equations for a loss gradient ``dL/dD`` ``(nspin, nao, nao)``.

    Returns the matrices ``X_s = sum_ai z_ai c_a c_i^T`` ``(nspin, nao, nao)``.
    """
    blocks = _Blocks(result)
    hvp = _hessian_vector(ks, result.density)
    sym = grad_density + grad_density.transpose(-1, -2)
    rhs = torch.cat(
        [
            ((blocks.virtual[s].T @ sym[s] @ blocks.occupied[s]) * blocks.occupation[s]).reshape(-1)
            for s in range(len(blocks.sizes))
        ]
    )

    def matvec(flat: np.ndarray) -> np.ndarray:
        kappa = blocks.split(torch.from_numpy(np.ascontiguousarray(flat)))
        direct = torch.cat([(g * k).reshape(-1) for g, k in zip(blocks.gaps, kappa)])
        coupled = blocks.project(hvp(blocks.density_change(kappa)))
        return (direct + coupled).numpy()

    # Within a spin channel all occupations are equal, which makes A symmetric (A^T = A).
    n = rhs.numel()
    operator = scipy.sparse.linalg.LinearOperator((n, n), matvec=matvec, dtype=np.float64)
    preconditioner = 1.0 / torch.cat([g.reshape(-1) for g in blocks.gaps]).clamp(min=1e-2).numpy()
    precond = scipy.sparse.linalg.LinearOperator((n, n), matvec=lambda v: preconditioner * v, dtype=np.float64)
    solution, info = scipy.sparse.linalg.gmres(
        operator, rhs.numpy(), M=precond, rtol=CPKS_TOL, atol=0.0, restart=60, maxiter=20
    )
    if info != 0:
        raise RuntimeError(f"Coupled-perturbed Kohn-Sham solve did not converge (GMRES info {info}).")
    z = blocks.split(torch.from_numpy(solution))
    return torch.stack([blocks.virtual[s] @ z[s] @ blocks.occupied[s].T for s in range(len(z))])


class _ConvergedDensity(torch.autograd.Function):
    @staticmethod
    def forward(ctx, ks: KohnSham, result: SCFResult, *parameters):
        ctx.ks, ctx.result = ks, result
        ctx.n_params = len(parameters)
        return result.density.clone()

    @staticmethod
    def backward(ctx, grad_density):
        ks, result = ctx.ks, ctx.result
        adjoint = solve_adjoint(ks, result, grad_density.detach())
        params = [p for p in ks.functional.parameters() if p.requires_grad]
        dens = result.density.detach().requires_grad_(True)
        with torch.enable_grad():
            energy, _ = ks.energy(dens)
            (fock,) = torch.autograd.grad(energy, dens, create_graph=True)
            grads = torch.autograd.grad(-(fock * adjoint).sum(), params, allow_unused=True)
        grads = [torch.zeros_like(p) if g is None else g for g, p in zip(grads, params)]
        return (None, None, *grads)


def differentiable_density(ks: KohnSham, result: SCFResult) -> torch.Tensor:
    """The converged density ``(nspin, nao, nao)`` as a function of the functional's parameters.

    Backpropagating a loss through it solves the coupled-perturbed Kohn-Sham equations
    once (:func:`solve_adjoint`) and returns exact gradients for every trainable parameter of
    ``ks.functional``.
    """
    params = [p for p in ks.functional.parameters() if p.requires_grad]
    return _ConvergedDensity.apply(ks, result, *params)


class _ConvergedNuclearGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, ks: KohnSham, result: SCFResult, *parameters):
        from ase_nnxc.scf.gradients import nuclear_gradient

        ctx.ks, ctx.result = ks, result
        return nuclear_gradient(ks, result)

    @staticmethod
    def backward(ctx, grad_gradient):
        from ase_nnxc.scf.gradients import gradient_along

        ks, result = ctx.ks, ctx.result
        params = [p for p in ks.functional.parameters() if p.requires_grad]
        with torch.enable_grad():
            density = differentiable_density(ks, result)
            along = gradient_along(ks, density, grad_gradient.detach())
            grads = torch.autograd.grad(along, params, allow_unused=True)
        grads = [torch.zeros_like(p) if g is None else g for g, p in zip(grads, params)]
        return (None, None, *grads)


def differentiable_nuclear_gradient(ks: KohnSham, result: SCFResult) -> torch.Tensor:
    """``dE/dR`` ``(natom, 3)`` at the converged ``result`` as a function of the functional's parameters.

    The value is :func:`~ase_nnxc.scf.gradients.nuclear_gradient`. Backpropagating a loss
    through it differentiates the Lagrangian gradient in the parameters at fixed density and
    adds the density's response (one coupled-perturbed solve), with the energy-weighted
    density written through ``D`` and the Fock matrix so that its response is included too.
    Needs exact two-electron integrals.
    """
    params = [p for p in ks.functional.parameters() if p.requires_grad]
    return _ConvergedNuclearGradient.apply(ks, result, *params)

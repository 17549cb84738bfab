"""Direct minimisation of the Kohn-Sham energy over orbital rotations: the robust fallback.

DIIS extrapolates Fock matrices and converges fast when the energy surface is close to
quadratic. It wanders when the surface has almost flat directions, as open shells with
degenerate orbitals do: the hole of OH (X 2Pi) may sit in any mix of pi_x and pi_y, and a
finite grid makes that rotation slightly bumpy instead of exactly free. A descent method
with a line search cannot wander: every accepted step lowers the energy.

Here the occupied orbitals are rotated into the virtual ones, ``C -> C exp(K)`` with
``K`` antisymmetric and non-zero only in the occupied-virtual block, and ``K`` is chosen by
preconditioned L-BFGS (the preconditioner is the orbital-energy gap, as in the geometric
direct minimisation of Van Voorhis and Head-Gordon, Mol. Phys. 100, 1713 (2002)). After
every accepted step the orbitals are re-based, so the gradient is always taken at ``K = 0``:
``dE/dK_ai = 2 n_i F_ai`` with ``F`` in the current orbital basis.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import torch

#: Largest rotation (radians) of any orbital pair in one step.
MAX_STEP = 0.3
#: Smallest gap (Hartree) in the diagonal preconditioner; keeps near-degenerate pairs finite.
MIN_GAP = 0.05
#: Pairs (s, y) remembered by L-BFGS.
MEMORY = 10


class OrbitalRotations:
    """Occupied-virtual rotations of a fixed set of orbitals, one block per spin.

    ``orbitals`` are ``(nspin, nao, nmo)`` with ``occ`` ``(nspin, nmo)``; the unknowns are
    the ``(nvir, nocc)`` blocks of every spin, flattened into one vector.
    """

    def __init__(self, orbitals: torch.Tensor, occ: torch.Tensor):
        self.orbitals = orbitals
        self.occ = occ
        self.filled = [o > 0 for o in occ]

    def rotate(self, step: torch.Tensor) -> torch.Tensor:
        """Orbitals ``C exp(K(step))``, same shape as ``self.orbitals``."""
        rotated, offset = [], 0
        for coeff, filled in zip(self.orbitals, self.filled):
            nocc, nvir = int(filled.sum()), int((~filled).sum())
            block = step[offset : offset + nocc * nvir].reshape(nvir, nocc)
            offset += nocc * nvir
            generator = torch.zeros(coeff.shape[1], coeff.shape[1], dtype=coeff.dtype)
            generator[torch.nonzero(~filled)[:, 0, None], torch.nonzero(filled)[:, 0]] = block
            rotated.append(coeff @ torch.linalg.matrix_exp(generator - generator.T))
        return torch.stack(rotated)

    def gradient_and_gaps(self, fock: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``dE/dK`` at ``K = 0`` and the diagonal-Hessian estimate ``2 n_i (F_aa - F_ii)``."""
        gradient, hessian = [], []
        for coeff, f, occ, filled in zip(self.orbitals, fock, self.occ, self.filled):
            mo_fock = coeff.T @ f @ coeff
            n = occ[filled]
            gradient.append((2 * n * mo_fock[~filled][:, filled]).reshape(-1))
            levels = mo_fock.diagonal()
            gap = (levels[~filled][:, None] - levels[filled][None, :]).clamp(min=MIN_GAP)
            hessian.append((2 * n * gap).reshape(-1))
        return torch.cat(gradient), torch.cat(hessian)


def minimise(
    evaluate: Callable[[torch.Tensor], tuple],
    orbitals: torch.Tensor,
    occ: torch.Tensor,
    converged: Callable[[float, float], bool],
    max_cycle: int,
    report: Callable[[float, float, float], None] | None = None,
) -> tuple[bool, torch.Tensor, tuple, float, float]:
    """Lower the energy by orbital rotations until ``converged(dE, error)`` holds.

    Parameters
    ----------
    evaluate
        ``orbitals -> (density, fock, energy, terms, error)``: one Fock build.
    orbitals, occ
        Starting orbitals ``(nspin, nao, nmo)`` and their occupations ``(nspin, nmo)``.
    converged
        Called with the energy change and the commutator norm of every accepted point.
    max_cycle
        Fock builds allowed, line-search trials included.
    report
        Called with energy, energy change and error of every accepted point (verbose output).

    Returns
    -------
    ``(converged, density, (fock, energy, terms), energy change, error)`` of the last accepted point.

    """
    density, fock, energy, terms, error = evaluate(orbitals)
    space = OrbitalRotations(orbitals, occ)
    gradient, hessian = space.gradient_and_gaps(fock)
    history: deque[tuple[torch.Tensor, torch.Tensor, float]] = deque(maxlen=MEMORY)
    change, builds = float("inf"), 1
    # Energies can be compared no better than a few ulps of the total.
    noise = 64 * torch.finfo(torch.float64).eps * abs(energy)
    while builds < max_cycle:
        direction = -_two_loop(gradient, hessian, history)
        slope = float(gradient @ direction)
        if slope >= 0:  # the curvature model went wrong: fall back to preconditioned descent
            history.clear()
            direction = -gradient / hessian
            slope = float(gradient @ direction)
        largest = float(direction.abs().max())
        if largest > MAX_STEP:
            direction = direction * (MAX_STEP / largest)
            slope *= MAX_STEP / largest
        length = 1.0
        while True:
            trial_orbitals = space.rotate(length * direction)
            trial = evaluate(trial_orbitals)
            builds += 1
            if trial[2] <= energy + 1e-4 * length * slope + noise or builds >= max_cycle:
                break
            length *= 0.5
        density, fock, new_energy, terms, error = trial
        change, energy = new_energy - energy, new_energy
        if report is not None:
            report(energy, change, float(error.norm()))
        if converged(change, float(error.norm())):
            return True, density, (fock, energy, terms), change, float(error.norm())
        # Re-base on the rotated orbitals; the step and the gradient change are carried over
        # as if the frame had not moved (exact to first order in the step).
        step = length * direction
        space = OrbitalRotations(trial_orbitals, occ)
        new_gradient, hessian = space.gradient_and_gaps(fock)
        difference = new_gradient - gradient
        curvature = float(step @ difference)
        if curvature > 1e-12 * float(step @ step):
            history.append((step, difference, 1.0 / curvature))
        gradient = new_gradient
    return False, density, (fock, energy, terms), change, float(error.norm())


def _two_loop(gradient: torch.Tensor, hessian: torch.Tensor, history) -> torch.Tensor:
    """L-BFGS inverse-Hessian product with a diagonal initial guess (Nocedal & Wright, alg. 7.4)."""
    q = gradient.clone()
    alphas = []
    for s, y, rho in reversed(history):
        alpha = rho * float(s @ q)
        q -= alpha * y
        alphas.append(alpha)
    r = q / hessian
    for (s, y, rho), alpha in zip(history, reversed(alphas)):
        beta = rho * float(y @ r)
        r += (alpha - beta) * s
    return r

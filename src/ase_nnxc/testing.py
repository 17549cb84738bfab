"""Checks shared by the project's tests and by plugin authors.

* :func:`check_forces`: analytic nuclear gradient against central finite differences of
  the self-consistent energy.
* :func:`check_potential`: a functional's potential (the derivative of its energy in the
  density matrix, as used in the Fock matrix) against finite differences of its energy.
* :func:`pyscf_grid_response_radii`: the atomic radii that make PySCF's grid-response
  gradient a reference with effective core potentials.

Both return the measured error and raise ``AssertionError`` when it exceeds the tolerance.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from ase_nnxc.scf import KohnSham, SCFConfig, nuclear_gradient, run_scf
from ase_nnxc.system import MolecularSystem

#: SCF settings tight enough for finite differences at the 1e-6 Hartree/Bohr level.
TIGHT = SCFConfig(conv_tol=1e-11, conv_tol_grad=1e-7)


def scf_energy(system: MolecularSystem, functional, config: SCFConfig = TIGHT, guess=None):
    """Converged total energy (Hartree) and the SCF result."""
    ks = KohnSham(system, functional, config)
    result = run_scf(ks, guess)
    return result.energy, result


def check_forces(
    system: MolecularSystem,
    functional,
    config: SCFConfig = TIGHT,
    step: float = 1e-3,
    atol: float = 1e-5,
    directions: int | None = None,
    seed: int = 0,
) -> float:
    """Compare ``dE/dR`` with central finite differences of the SCF energy.

    Parameters
    ----------
    system, functional, config
        What to compute (``functional`` is an :class:`~ase_nnxc.xc.base.XCFunctional`).
    step
        Finite-difference displacement in Bohr.
    atol
        Largest tolerated deviation, Hartree/Bohr.
    directions
        ``None`` checks every Cartesian component (``6 N`` SCF runs); an integer checks that
        many random unit directions in ``(natom, 3)`` space (2 runs each).
    seed
        Seed for the random directions.

    Returns
    -------
    float
        The largest absolute deviation found.

    """
    ks = KohnSham(system, functional, config)
    result = run_scf(ks)
    gradient = nuclear_gradient(ks, result).numpy()
    if directions is None:
        basis = np.eye(gradient.size).reshape(-1, *gradient.shape)
    else:
        rng = np.random.default_rng(seed)
        basis = rng.normal(size=(directions, *gradient.shape))
        basis /= np.linalg.norm(basis.reshape(directions, -1), axis=1)[:, None, None]
    worst = 0.0
    for direction in basis:
        energies = [
            scf_energy(system.with_positions(system.positions + sign * step * direction), functional, config,
                       result.density)[0]
            for sign in (1.0, -1.0)
        ]
        numeric = (energies[0] - energies[1]) / (2 * step)
        worst = max(worst, abs(numeric - float((gradient * direction).sum())))
    if worst > atol:
        raise AssertionError(f"Analytic and finite-difference gradients differ by {worst:.3e} Ha/Bohr (> {atol:.1e}).")
    return worst


def check_potential(ks: KohnSham, density: torch.Tensor, step: float = 1e-4, atol: float = 1e-7, seed: int = 0) -> float:
    """Compare the XC potential ``dE_xc/dD`` with finite differences of ``E_xc``.

    A random symmetric direction ``Delta`` is drawn; ``Tr(V Delta)`` must equal
    ``(E_xc[D + h Delta] - E_xc[D - h Delta]) / 2h``.

    Returns
    -------
    float
        The absolute deviation.

    """
    generator = torch.Generator().manual_seed(seed)
    delta = torch.randn(density.shape, generator=generator, dtype=torch.float64)
    delta = 0.5 * (delta + delta.transpose(-1, -2))
    delta = delta / delta.norm() * density.norm() * 0.01
    with torch.enable_grad():
        dens = density.detach().requires_grad_(True)
        (potential,) = torch.autograd.grad(ks.xc_energy(dens), dens)
    with torch.no_grad():
        numeric = (ks.xc_energy(density + step * delta) - ks.xc_energy(density - step * delta)) / (2 * step)
    error = abs(float(numeric) - float((potential * delta).sum()))
    if error > atol:
        raise AssertionError(f"XC potential and finite differences of E_xc differ by {error:.3e} (> {atol:.1e}).")
    return error


def tight(config: SCFConfig, **changes) -> SCFConfig:
    """``config`` with tight thresholds (and any other ``changes``)."""
    return replace(config, conv_tol=1e-11, conv_tol_grad=1e-7, **changes)


def pyscf_grid_response_radii(mol) -> np.ndarray:
    """Bragg radii for ``mf.grids.atomic_radii`` that make PySCF's grid-response gradient exact with ECPs.

    PySCF (2.14) builds the Becke partition with radii indexed by proton number, but its
    grid-response gradient (``pyscf.grad.rks.grids_response_becke``) indexes them by
    ``mol.atom_charges()``, which is ``Z - n_core`` with an ECP. Where the two radii differ
    (Sb and Bi against V in def2) its gradient is not the derivative of its own energy. This
    table gives entry ``Z - n_core`` the radius of ``Z``, which leaves the grid unchanged and
    makes the response consistent; without ECPs it is PySCF's own table.

    Raises
    ------
    ValueError
        When an element of ``mol`` has the proton number ``Z - n_core`` of another atom (that
        element's radius would change too).

    """
    from pyscf.data.elements import charge
    from pyscf.dft import radi

    radii = radi.BRAGG_RADII.copy()
    protons = {charge(mol.atom_pure_symbol(i)) for i in range(mol.natm)}
    for i in range(mol.natm):
        z, z_eff = charge(mol.atom_pure_symbol(i)), int(mol.atom_charge(i))
        if z != z_eff:
            if z_eff in protons:
                raise ValueError(
                    f"Atom {i} ({mol.atom_pure_symbol(i)}) has effective charge {z_eff}, the proton "
                    "number of another element in the molecule; no radius table fits both."
                )
            radii[z_eff] = radi.BRAGG_RADII[z]
    return radii

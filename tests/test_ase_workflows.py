"""ASE workflows with NNXC against PySCF: optimisation, dipoles, vibrations, NVE dynamics.

These are the calculator's acceptance checks, all with PBE/def2-SVP. Every PySCF reference
is computed here, on the same integration grid as NNXC. The default suite runs the
optimisation and dynamics on grid level 1 (the comparisons with PySCF are exact on any
grid, and the energy is conserved on any grid because the forces include the grid
response); the ``slow`` variants use the default grid level 3 and the full 200-step run.
"""

import numpy as np
import pytest
from ase import units
from ase.build import molecule
from ase.md.velocitydistribution import Stationary, ZeroRotation
from ase.md.verlet import VelocityVerlet
from ase.optimize import BFGS
from ase.vibrations import Vibrations
from pyscf import dft

from ase_nnxc import NNXC
from ase_nnxc.system import MolecularSystem
from ase_nnxc.units import BOHR_TO_ANGSTROM, EBOHR_TO_DEBYE, HARTREE_TO_EV

XC, BASIS = "pbe", "def2-svp"
slow = pytest.mark.slow


def pyscf_rks(atoms, grid_level):
    """Converged PySCF RKS of ``atoms`` with NNXC's functional, basis and grid."""
    mf = dft.RKS(MolecularSystem.from_atoms(atoms, basis=BASIS).to_mole())
    mf.xc = XC
    mf.grids.level = grid_level
    mf.conv_tol = 1e-11
    mf.kernel()
    assert mf.converged
    return mf


def max_force(forces):
    return float(np.linalg.norm(forces, axis=1).max())


@pytest.fixture(
    scope="module",
    params=[("H2O", 1), ("NH3", 1), pytest.param(("H2O", 3), marks=slow), pytest.param(("NH3", 3), marks=slow)],
    ids=lambda p: f"{p[0]}-grid{p[1]}",
)
def optimised(request):
    """A distorted molecule relaxed by BFGS, and PySCF's SCF at the final geometry."""
    name, grid_level = request.param
    atoms = molecule(name)
    atoms.rattle(stdev=0.08, seed=4)
    atoms.calc = NNXC(xc=XC, basis=BASIS, grid_level=grid_level)
    start_fmax = max_force(atoms.get_forces())
    converged = BFGS(atoms, logfile=None).run(fmax=0.01, steps=100)
    return atoms, pyscf_rks(atoms, grid_level), converged, start_fmax


def test_bfgs_converges_to_a_pyscf_stationary_point(optimised):
    atoms, mf, converged, start_fmax = optimised
    assert start_fmax > 0.3  # the rattled start is far from the minimum
    assert converged
    assert max_force(atoms.get_forces()) < 0.01
    gradient = mf.nuc_grad_method()
    gradient.grid_response = True
    pyscf_forces = -gradient.kernel() * HARTREE_TO_EV / BOHR_TO_ANGSTROM
    # The figures, for `pytest -s`.
    print(f"\nBFGS fmax {max_force(atoms.get_forces()):.2e}, PySCF fmax {max_force(pyscf_forces):.2e} eV/A")
    assert max_force(pyscf_forces) < 0.02
    assert np.abs(pyscf_forces - atoms.get_forces()).max() < 1e-4


def test_dipole_matches_pyscf(optimised):
    atoms, mf, _, _ = optimised
    dipole_debye = atoms.get_dipole_moment() / BOHR_TO_ANGSTROM * EBOHR_TO_DEBYE
    reference = mf.dip_moment(unit="Debye", verbose=0)
    print(f"\ndipole |mu| {np.linalg.norm(reference):.4f} D, deviation {np.abs(dipole_debye - reference).max():.2e} D")
    assert np.linalg.norm(reference) > 1.0
    assert np.abs(dipole_debye - reference).max() < 1e-4


@slow
def test_vibrational_frequencies_of_water_match_the_pyscf_hessian(tmp_path):
    from pyscf.hessian import thermo

    # PySCF's analytic Hessian leaves out the grid response (the second derivatives of the
    # moving grid and its Becke weights), while finite differences of NNXC's forces include
    # it. On grid level 1 that difference alone shifts the bend by ~3.5 cm^-1 and turns the
    # rotations into 150-210i cm^-1 modes; on the default level 3 it is below 1 cm^-1, so the
    # comparison is made there. ASE's default 0.01 Angstrom central differences add an
    # anharmonic error well under 1 cm^-1 for H2O. The geometry is relaxed tightly first, as
    # frequencies are only defined at a stationary point.
    grid_level = 3
    atoms = molecule("H2O")
    atoms.calc = NNXC(xc=XC, basis=BASIS, grid_level=grid_level, conv_tol=1e-11)
    assert BFGS(atoms, logfile=None).run(fmax=1e-3, steps=50)

    vibrations = Vibrations(atoms, name=str(tmp_path / "vib"), delta=0.01, nfree=2)
    vibrations.run()
    frequencies = vibrations.get_frequencies()  # cm^-1, imaginary as complex

    mf = pyscf_rks(atoms, grid_level)
    hessian = mf.Hessian().kernel()
    reference = np.sort(thermo.harmonic_analysis(mf.mol, hessian)["freq_wavenumber"].real)

    print(f"\nASE/NNXC {np.round(frequencies.real[6:], 2)}, PySCF {np.round(reference, 2)} cm^-1")
    assert reference.shape == (3,)
    assert np.abs(frequencies[:6]).max() < 60.0  # translations and rotations stay near zero
    assert np.all(np.abs(frequencies[6:].imag) == 0)
    assert np.abs(frequencies[6:].real - reference).max() < 5.0


def run_nve(grid_level, steps):
    """Total energies (eV) of VelocityVerlet NVE dynamics of H2O at 300 K, 0.5 fs steps."""
    atoms = molecule("H2O")
    atoms.calc = NNXC(xc=XC, basis=BASIS, grid_level=grid_level)
    # Maxwell-Boltzmann momenta drawn directly: reproducible on every supported ASE version.
    sigma = np.sqrt(atoms.get_masses()[:, None] * units.kB * 300.0)
    atoms.set_momenta(np.random.default_rng(0).normal(size=(len(atoms), 3)) * sigma)
    Stationary(atoms)
    ZeroRotation(atoms)
    dynamics = VelocityVerlet(atoms, timestep=0.5 * units.fs)
    energies = []
    dynamics.attach(lambda: energies.append(atoms.get_total_energy()), interval=1)
    dynamics.run(steps)
    return np.array(energies)


@pytest.mark.parametrize(
    ("grid_level", "steps"), [(1, 30), pytest.param(3, 200, marks=slow)], ids=["grid1-30steps", "grid3-200steps"]
)
def test_nve_dynamics_conserves_energy(grid_level, steps):
    energies = run_nve(grid_level, steps)
    assert len(energies) == steps + 1
    # Velocity Verlet's total energy oscillates by a bounded amount, (omega dt)^2 times the
    # vibrational energy (about 5e-4 eV here, at twice the O-H stretch frequency), however long
    # the run; wrong forces would add a secular drift on top. So the deviation from the start
    # is held to 1e-3 eV at any length, and the linear-fit drift to 1e-3 eV per 200 steps.
    drift = np.polyfit(np.arange(steps + 1), energies, 1)[0] * steps
    print(
        f"\nlinear-fit drift {drift:.2e} eV, last - first {energies[-1] - energies[0]:.2e} eV, "
        f"largest deviation {np.abs(energies - energies[0]).max():.2e} eV"
    )
    assert abs(drift) < 1e-3 * steps / 200
    assert np.abs(energies - energies[0]).max() < 1e-3

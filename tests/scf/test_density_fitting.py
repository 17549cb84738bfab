"""Density fitting: energies and forces against PySCF's ``density_fit()``, and every derivative
of the fitted two-electron energy (positions, density, density twice) against finite differences."""

import json

import numpy as np
import pytest
import torch
from ase.io import write
from pyscf import dft
from samples import atoms, system

from ase_nnxc import NNXC
from ase_nnxc.cli import main
from ase_nnxc.integrals import DensityFittedJK, ExchangeTerm, two_electron_energy
from ase_nnxc.scf import KohnSham, SCFConfig, nuclear_gradient, run_scf
from ase_nnxc.testing import check_forces, tight
from ase_nnxc.units import HARTREE_TO_EV
from ase_nnxc.xc import get_functional

CONFIG = SCFConfig(conv_tol=1e-10, density_fit=True)
TIGHT_DF = tight(CONFIG)
#: CAM-B3LYP's split of exact exchange: full range plus long range (omega = 0.33).
RANGE_SEPARATED = (ExchangeTerm(0.19), ExchangeTerm(0.46, 0.33))


def pyscf_density_fit(sys_, xc, conv_tol=1e-10):
    mf = (dft.RKS if sys_.spin == 0 else dft.UKS)(sys_.to_mole())
    mf.xc = xc
    mf.conv_tol = conv_tol
    mf.grids.level = CONFIG.grid_level
    return mf.density_fit()


@pytest.mark.parametrize(("name", "xc"), [("H2O", "pbe"), ("H2O", "b3lyp"), ("H2O", "r2scan")])
def test_restricted_energy_matches_pyscf_density_fit(name, xc):
    sys_ = system(name)
    ks = KohnSham(sys_, get_functional(xc), CONFIG)
    result = run_scf(ks)
    mf = pyscf_density_fit(sys_, xc)
    mf.kernel()
    assert mf.converged
    # Same default auxiliary basis as PySCF: JFIT for pure functionals, JKFIT for hybrids.
    assert ks.jk.auxbasis == mf.with_df.auxbasis
    assert result.energy == pytest.approx(mf.e_tot, abs=1e-6)


@pytest.mark.parametrize(("name", "xc"), [("CH3", "pbe"), ("OH", "b3lyp")])
def test_unrestricted_energy_matches_pyscf_density_fit(name, xc):
    # As in test_energy_vs_pyscf: PySCF evaluates its own fitted energy at our solution, which
    # must be stationary for PySCF too, and PySCF's SCF restarted from it finds nothing lower.
    sys_ = system(name)
    result = run_scf(KohnSham(sys_, get_functional(xc), CONFIG))
    mf = pyscf_density_fit(sys_, xc)
    density = result.density.numpy()
    assert result.energy == pytest.approx(mf.energy_tot(dm=density), abs=1e-6)
    assert abs(mf.get_grad(result.mo_coeff.numpy(), result.mo_occ.numpy())).max() < 1e-4
    mf.max_cycle = 30
    mf.kernel(dm0=density)
    if mf.converged:
        assert mf.e_tot > result.energy - 1e-6


def test_calculator_fits_when_asked_and_the_fit_changes_the_energy_slightly():
    water = atoms("H2O")
    water.calc = NNXC(xc="pbe", density_fit=True, conv_tol=1e-10)
    fitted = water.get_potential_energy() / HARTREE_TO_EV
    assert water.calc.auxbasis == "def2-universal-jfit"
    mf = pyscf_density_fit(system("H2O"), "pbe")
    assert fitted == pytest.approx(mf.kernel(), abs=1e-6)
    water.calc = NNXC(xc="pbe", conv_tol=1e-10)
    exact = water.get_potential_energy() / HARTREE_TO_EV
    assert water.calc.auxbasis is None
    assert 1e-7 < abs(fitted - exact) < 5e-4  # measured 9e-5 (def2-universal-jfit)


@pytest.mark.parametrize(("name", "xc"), [("H2O", "pbe"), ("CH3", "pbe"), ("H2O", "b3lyp")])
def test_gradient_matches_pyscf_density_fit_with_grid_response(name, xc):
    sys_ = system(name)
    ks = KohnSham(sys_, get_functional(xc), TIGHT_DF)
    result = run_scf(ks)
    gradient = nuclear_gradient(ks, result).numpy()

    mf = pyscf_density_fit(sys_, xc, conv_tol=1e-11)
    grad = mf.nuc_grad_method()
    grad.grid_response = True
    assert grad.auxbasis_response  # auxiliary functions move with their atoms
    if sys_.spin == 0:
        mf.kernel()
        reference = grad.kernel()
    else:
        mf.grids.build()
        orbitals = [t.numpy() for t in (result.mo_energy, result.mo_coeff, result.mo_occ)]
        mf.mo_energy, mf.mo_coeff, mf.mo_occ = orbitals
        reference = grad.kernel(*orbitals)
    assert np.abs(gradient - reference).max() < 1e-5
    assert np.abs(gradient.sum(0)).max() < 1e-6


@pytest.mark.parametrize(("name", "xc"), [("H2O", "pbe"), ("OH", "b3lyp")])
def test_gradient_matches_finite_differences_of_fitted_energy(name, xc):
    assert check_forces(system(name), get_functional(xc), TIGHT_DF, directions=2, atol=1e-5) < 1e-5


def _densities(nao, restricted, seed=0):
    """Positive semi-definite density matrices ``(nspin, nao, nao)`` of a few random orbitals."""
    rng = np.random.default_rng(seed)
    mats = []
    for nocc in (5,) if restricted else (5, 4):
        orbitals = rng.normal(size=(nao, nocc)) * 0.3
        mats.append(orbitals @ orbitals.T * (2.0 if restricted else 1.0))
    return torch.from_numpy(np.stack(mats))


def _engine(sys_, **kwargs):
    return DensityFittedJK(sys_.to_mole(), "def2-universal-jkfit", **kwargs)


@pytest.mark.parametrize("restricted", [True, False])
@pytest.mark.parametrize("terms", [(), (ExchangeTerm(0.25),), RANGE_SEPARATED], ids=["J", "JK", "JK-rsh"])
def test_nuclear_gradient_at_fixed_density_matches_finite_differences(restricted, terms):
    sys_ = system("H2O")
    density = _densities(sys_.to_mole().nao_nr(), restricted)
    positions = sys_.positions_tensor(requires_grad=True)
    with torch.enable_grad():
        energy = two_electron_energy(_engine(sys_), positions, density, terms)
        (gradient,) = torch.autograd.grad(energy, positions)
    direction = np.random.default_rng(1).normal(size=gradient.shape)
    direction /= np.linalg.norm(direction)
    step = 1e-4
    energies = []
    for sign in (1.0, -1.0):
        moved = sys_.with_positions(sys_.positions + sign * step * direction)
        energies.append(float(two_electron_energy(_engine(moved), moved.positions_tensor(), density, terms)))
    numeric = (energies[0] - energies[1]) / (2 * step)
    assert float((gradient.numpy() * direction).sum()) == pytest.approx(numeric, abs=1e-7)


@pytest.mark.parametrize("restricted", [True, False])
def test_fock_and_its_derivative_in_the_density_match_finite_differences(restricted):
    sys_ = system("H2O")
    engine = _engine(sys_)
    positions = sys_.positions_tensor()
    density = _densities(engine.mol.nao_nr(), restricted)
    generator = torch.Generator().manual_seed(2)
    direction = torch.randn(density.shape, generator=generator, dtype=torch.float64)
    direction = direction + direction.transpose(-1, -2)  # symmetric and indefinite
    probe = torch.randn(density.shape, generator=generator, dtype=torch.float64)
    probe = probe + probe.transpose(-1, -2)

    def energy_and_fock(dens):
        dens = dens.detach().requires_grad_(True)
        with torch.enable_grad():
            energy = two_electron_energy(engine, positions, dens, RANGE_SEPARATED)
            (fock,) = torch.autograd.grad(energy, dens, create_graph=True)
            (hessian_probe,) = torch.autograd.grad((fock * probe).sum(), dens)
        return float(energy.detach()), fock.detach(), hessian_probe

    _, fock, hessian_probe = energy_and_fock(density)
    step = 1e-3
    (e_plus, f_plus, _), (e_minus, f_minus, _) = (energy_and_fock(density + s * step * direction) for s in (1, -1))
    # The energy is quadratic in the density, so central differences are exact up to rounding.
    assert float((fock * direction).sum()) == pytest.approx((e_plus - e_minus) / (2 * step), rel=1e-9, abs=1e-9)
    numeric = float(((f_plus - f_minus) / (2 * step) * probe).sum())
    assert float((hessian_probe * direction).sum()) == pytest.approx(numeric, rel=1e-8, abs=1e-9)
    # Exchange stays linear for the tiny directions a Krylov solver may probe.
    small = 1e-14 * direction.numpy()
    assert np.allclose(
        engine.exchange(small, RANGE_SEPARATED),
        1e-14 * engine.exchange(direction.numpy(), RANGE_SEPARATED),
        rtol=1e-9,
        atol=0,
    )


def test_small_memory_runs_in_blocks_and_gives_the_same_numbers():
    sys_ = system("H2O")
    density = _densities(sys_.to_mole().nao_nr(), restricted=False)
    results = []
    for memory in (4000.0, 0.05):
        engine = _engine(sys_, max_memory_mb=memory)
        if memory < 1:
            assert len(list(engine._aux_blocks())) > 10
        positions = sys_.positions_tensor(requires_grad=True)
        with torch.enable_grad():
            energy = two_electron_energy(engine, positions, density, RANGE_SEPARATED)
            (gradient,) = torch.autograd.grad(energy, positions)
        results.append((float(energy.detach()), gradient))
    assert results[0][0] == pytest.approx(results[1][0], abs=1e-12)
    # Only the summation order differs (measured 8e-11: rounding times the metric condition number).
    assert (results[0][1] - results[1][1]).abs().max() < 1e-9


def test_command_line_density_fit_gives_the_calculator_numbers(tmp_path, capsys):
    path = tmp_path / "water.xyz"
    write(path, atoms("H2O"))
    options = ["--basis", "sto-3g", "--grid-level", "1", "--density-fit", "--auxbasis", "weigend"]
    assert main(["forces", str(path), "--json", *options]) == 0
    record = json.loads(capsys.readouterr().out)
    water = atoms("H2O")
    water.calc = NNXC(xc="pbe", basis="sto-3g", grid_level=1, density_fit=True, auxbasis="weigend")
    assert record["auxbasis"] == "weigend"
    assert record["energy_eV"] == pytest.approx(water.get_potential_energy(), abs=1e-7)
    assert np.abs(np.array(record["forces_eV_per_A"]) - water.get_forces()).max() < 1e-6


@pytest.mark.filterwarnings("ignore:Basis may be available in basis-set-exchange")
def test_auxiliary_basis_errors_are_clear():
    with pytest.raises(ValueError, match="only used with density_fit=True"):
        SCFConfig(auxbasis="weigend")
    with pytest.raises(ValueError, match="density_fit=True, not by jk_mode"):
        SCFConfig(jk_mode="density_fit")
    with pytest.raises(ValueError, match="Auxiliary basis 'no-such-auxbasis' could not be built for H/O"):
        KohnSham(system("H2O"), get_functional("pbe"), SCFConfig(density_fit=True, auxbasis="no-such-auxbasis"))

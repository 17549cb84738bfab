"""ase_nnxc functionals inside PySCF (``ase_nnxc.pyscf.make_ks``) against ase_nnxc's own SCF.

Run: python benchmarks/pyscf_agreement.py [--parts energies newton geomopt kernel tddft] [--basis def2-svp]

energies  SCF energy and nuclear gradient (PySCF with grid_response=True) of nnxc,
          nnxc-pbe-2026.12, torch-b88pw (the nnxc-b88 example plugin) and b3lyp on H2O and
          ethanol (RKS), CH3 and OH (UKS); both codes start from PySCF's minao guess. Also
          printed, at ase_nnxc's converged density D: PySCF's energy (the same functional on
          the same grid), PySCF's orbital gradient norm (the same stationary point) and
          PySCF's nuclear gradient; and, where the two SCFs end more than 1e-9 Ha apart,
          PySCF's energy minus ase_nnxc's restarted from PySCF's density (dE(swap)). OH's
          pi hole can turn about the bond at almost no cost (the grid's anisotropy, ~1e-7 Ha),
          so independent SCFs may stop at different points of that flat valley.
newton    mf.newton() (SOSCF) with nnxc from the minao guess, H2O and CH3 in def2-TZVP.
geomopt   NH3 with nnxc (def2-TZVP): pyscf.geomopt (geomeTRIC) against ASE's BFGS on NNXC.
kernel    the kernel's action (nr_rks_fxc / nr_uks_fxc) on a random density-matrix
          perturbation against central finite differences of the XC potential.
tddft     the five lowest TDDFT singlets of H2O: with the neural part off (a = 0, b = 1)
          against PySCF's own base functional, and with the full functionals.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch
from ase.build import molecule
from pyscf import dft

from ase_nnxc.pyscf import make_ks
from ase_nnxc.scf import KohnSham, SCFConfig, nuclear_gradient, run_scf
from ase_nnxc.system import MolecularSystem
from ase_nnxc.xc import get_functional

FUNCTIONALS = ["nnxc", "nnxc-pbe-2026.12", "torch-b88pw", "b3lyp"]
MOLECULES = {"H2O": 0, "CH3CH2OH": 0, "CH3": 1, "OH": 1}
CONV_TOL, CONV_TOL_GRAD = 1e-11, 1e-7


def system_of(name: str, basis: str) -> MolecularSystem:
    return MolecularSystem.from_atoms(molecule(name), basis=basis, spin=MOLECULES.get(name, 0))


def pyscf_ks(system: MolecularSystem, xc, newton: bool = False):
    mol = system.to_mole()
    mol.verbose = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # trained-basis warning: the comparison uses one basis for all
        mf = make_ks(mol, xc)
    if newton:
        mf = mf.newton()
    mf.conv_tol, mf.conv_tol_grad, mf.max_cycle = CONV_TOL, CONV_TOL_GRAD, 200
    return mf


def energies(basis: str, functionals=FUNCTIONALS, molecules=tuple(MOLECULES)) -> None:
    print(
        f"# energies and gradients, {basis}, grid level 3; dE = PySCF - ase_nnxc (Hartree), dG max |.| (Hartree/Bohr)"
    )
    print(
        f"{'functional':18s} {'molecule':9s} {'E ase_nnxc':>17s} {'dE scf':>9s} {'conv':>5s} {'dG':>9s} "
        f"{'dE(D)':>9s} {'|g|(D)':>9s} {'dG(D)':>9s} {'dE(swap)':>9s}"
    )
    for xc in functionals:
        for name in molecules:
            system = system_of(name, basis)
            ks = KohnSham(
                system, get_functional(xc), SCFConfig(conv_tol=CONV_TOL, conv_tol_grad=CONV_TOL_GRAD, max_cycle=200)
            )
            ours = run_scf(ks)
            gradient = nuclear_gradient(ks, ours).numpy()
            mf = pyscf_ks(system, xc)
            energy = mf.kernel()
            grad = mf.nuc_grad_method()
            grad.grid_response = True
            pyscf_gradient = grad.kernel()
            # The same functional at the same density, and PySCF's view of ase_nnxc's solution.
            density = ours.density.numpy()
            dm = density[0] if ks.restricted else density
            coeff = ours.mo_coeff.numpy()
            occ, eps = ours.mo_occ.numpy(), ours.mo_energy.numpy()
            if ks.restricted:
                coeff, occ, eps = coeff[0], occ[0], eps[0]
            fixed = mf.energy_tot(dm)
            orbital_gradient = np.linalg.norm(mf.get_grad(coeff, occ, mf.get_fock(dm=dm)))
            at_ours = grad.kernel(mo_energy=eps, mo_coeff=coeff, mo_occ=occ)
            # Where the two SCFs end apart, restart ase_nnxc from PySCF's last density: the same
            # stationary point then gives the same energy.
            swapped = "-"
            if abs(energy - ours.energy) > 1e-9:
                restart = run_scf(ks, torch.as_tensor(np.asarray(mf.make_rdm1())).reshape(ks.nspin, ks.nao, ks.nao))
                swapped = f"{energy - restart.energy:9.1e}"
            print(
                f"{xc:18s} {name:9s} {ours.energy:17.10f} {energy - ours.energy:9.1e} {str(mf.converged):>5s} "
                f"{np.abs(pyscf_gradient - gradient).max():9.1e} {fixed - ours.energy:9.1e} {orbital_gradient:9.1e} "
                f"{np.abs(at_ours - gradient).max():9.1e} {swapped:>9s}",
                flush=True,
            )


def newton() -> None:
    print("# mf.newton() (SOSCF) with nnxc from the minao guess, def2-TZVP, against DIIS")
    for name in ("H2O", "CH3"):
        system = system_of(name, "def2-tzvp")
        start = time.perf_counter()
        mf = pyscf_ks(system, "nnxc", newton=True)
        # PySCF's SOSCF stalls at |g| ~ 3e-7 (its own r2SCAN too, H2O def2-TZVP), so it is run
        # with PySCF's default gradient threshold, sqrt(conv_tol).
        mf.conv_tol, mf.conv_tol_grad = 1e-10, None
        energy = mf.kernel()
        seconds = time.perf_counter() - start
        reference = pyscf_ks(system, "nnxc").kernel()
        print(
            f"{name:5s} newton converged={mf.converged} E={energy:.10f} E-E(DIIS)={energy - reference:.1e} ({seconds:.0f} s)"
        )


def geomopt() -> None:
    from ase.optimize import BFGS

    try:
        from pyscf.geomopt.geometric_solver import optimize
    except ImportError as err:
        raise ImportError("the geomopt part needs geomeTRIC: pip install geometric") from err

    from ase_nnxc import NNXC
    from ase_nnxc.units import BOHR_TO_ANGSTROM

    print("# NH3 with nnxc (def2-TZVP): geomeTRIC through PySCF against ASE BFGS on NNXC")
    atoms = molecule("NH3")
    atoms.rattle(0.02, seed=1)
    start = atoms.copy()
    atoms.calc = NNXC(xc="nnxc", conv_tol=1e-11)
    BFGS(atoms, logfile=None).run(fmax=1e-4)
    ase_positions = atoms.get_positions()
    system = MolecularSystem.from_atoms(start, basis="def2-tzvp")
    # ASE's forces from NNXC include the grid response; so must geomeTRIC's gradient.
    grad = pyscf_ks(system, "nnxc").nuc_grad_method()
    grad.grid_response = True
    params = {
        "convergence_energy": 1e-9,
        "convergence_grms": 3e-6,
        "convergence_gmax": 5e-6,
        "convergence_drms": 1e-5,
        "convergence_dmax": 2e-5,
    }
    mol_eq = optimize(grad.as_scanner(), **params)
    pyscf_positions = mol_eq.atom_coords() * BOHR_TO_ANGSTROM

    # Compare shapes, not orientations: every interatomic distance.
    def distances(x):
        return np.linalg.norm(x[:, None] - x[None], axis=-1)[np.triu_indices(len(x), 1)]

    aligned = _kabsch(pyscf_positions, ase_positions)
    print(
        f"max |distance difference| {np.abs(distances(pyscf_positions) - distances(ase_positions)).max():.1e} A, "
        f"max atom displacement after alignment {np.linalg.norm(aligned - ase_positions, axis=1).max():.1e} A"
    )
    print(
        "N-H (ASE)",
        np.round(distances(ase_positions)[:3], 6),
        "N-H (geomeTRIC)",
        np.round(distances(pyscf_positions)[:3], 6),
    )


def _kabsch(moving: np.ndarray, target: np.ndarray) -> np.ndarray:
    a, b = moving - moving.mean(0), target - target.mean(0)
    u, _, vt = np.linalg.svd(a.T @ b)
    d = np.sign(np.linalg.det(u @ vt))
    rotation = u @ np.diag([1.0, 1.0, d]) @ vt
    return a @ rotation + target.mean(0)


def kernel(basis: str) -> None:
    print(f"# kernel action against central differences of the XC potential, converged density, {basis}")
    rng = np.random.default_rng(0)
    for xc in ("nnxc", "nnxc-pbe-2026.12"):
        for name in ("H2O", "OH"):
            mf = pyscf_ks(system_of(name, basis), xc)
            mf.kernel()
            ni, mol, grids = mf._numint, mf.mol, mf.grids
            dm0 = mf.make_rdm1()
            shape = dm0.shape
            # Entries of 1e-3 times a standard normal: density-matrix elements are O(1), so
            # h * perturbation is a 1e-7 change, small enough for the h^2 error of the
            # central difference and large enough for its rounding error.
            perturbation = 1e-3 * rng.standard_normal(shape)
            perturbation = 0.5 * (perturbation + np.swapaxes(perturbation, -1, -2))
            spin = 0 if dm0.ndim == 2 else 1
            action = ni.nr_fxc(mol, grids, mf.xc, dm0, perturbation, spin=spin, hermi=1)
            errors = []
            for h in (1e-3, 1e-4):
                plus = ni.nr_vxc(mol, grids, mf.xc, dm0 + h * perturbation, spin=spin)[2]
                minus = ni.nr_vxc(mol, grids, mf.xc, dm0 - h * perturbation, spin=spin)[2]
                finite = (plus - minus) / (2 * h)
                errors.append(np.linalg.norm(action - finite) / np.linalg.norm(finite))
            print(f"{xc:18s} {name:4s} relative error h=1e-3: {errors[0]:.1e}  h=1e-4: {errors[1]:.1e}", flush=True)


def tddft(basis: str) -> None:
    print(f"# five lowest TDDFT singlets of H2O ({basis}), Hartree")
    system = system_of("H2O", basis)

    def excitations(mf):
        mf.kernel()
        td = mf.TDDFT()
        td.nstates, td.conv_tol = 5, 1e-9
        td.kernel()
        return np.asarray(td.e), td.converged

    for xc, base in (("nnxc-pbe-2026.12", "pbe"), ("nnxc", "r2scan")):
        switched_off = get_functional(xc)
        switched_off.a.data.zero_()
        switched_off.b.data.fill_(1.0)
        ours, converged = excitations(pyscf_ks(system, switched_off))
        mol = system.to_mole()
        mol.verbose = 0
        reference = dft.RKS(mol, xc=base)
        reference.conv_tol = CONV_TOL
        theirs, their_converged = excitations(reference)
        full, full_converged = excitations(pyscf_ks(system, xc))
        print(f"{xc} with a=0, b=1: {np.round(ours, 8)} (converged {converged.all()})")
        print(
            f"PySCF {base}:{' ' * (len(xc) + 8 - len(base))}{np.round(theirs, 8)} (converged {their_converged.all()})   max |diff| {np.abs(ours - theirs).max():.1e}"
        )
        print(f"{xc} (full): {np.round(full, 8)} (converged {full_converged.tolist()})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=["energies", "newton", "geomopt", "kernel", "tddft"])
    parser.add_argument("--basis", default="def2-svp", help="basis of energies, kernel and tddft (default def2-svp)")
    parser.add_argument("--functionals", nargs="+", default=FUNCTIONALS, help="of the energies part")
    parser.add_argument(
        "--molecules", nargs="+", default=list(MOLECULES), choices=list(MOLECULES), help="of the energies part"
    )
    args = parser.parse_args()
    for part in args.parts:
        start = time.perf_counter()
        {
            "energies": lambda: energies(args.basis, args.functionals, args.molecules),
            "newton": newton,
            "geomopt": geomopt,
            "kernel": lambda: kernel(args.basis),
            "tddft": lambda: tddft(args.basis),
        }[part]()
        print(f"# {part}: {time.perf_counter() - start:.0f} s\n", flush=True)


if __name__ == "__main__":
    main()

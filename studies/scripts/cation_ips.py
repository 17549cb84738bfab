"""Are the IPs of isoelectronic cations usable training data in def2-SVP? (r2SCAN, PySCF).

    python studies/scripts/cation_ips.py            # about 1 minute

The held-out atoms with the largest IP errors are closed-shell s^2 atoms (He, Be, Mg) and
B, and no training IP is of that kind. The split allows ions of training atoms, and the
cations isoelectronic with those atoms are Li+ (He-like), C2+ (Be-like), Si2+ (Mg-like) and
C+ (B-like). This prints r2SCAN's error on their ionisation energies against NIST in
def2-SVP and def2-QZVP: the difference is the basis-set error that a network trained in
def2-SVP would learn, and the def2-QZVP error is r2SCAN's own, for comparison with its errors
on neutral atoms (within 14 kcal/mol for H-Ar, ``benchmarks/accuracy.py``). Only training
atoms are computed.
"""

from __future__ import annotations

from pyscf import dft, gto

from ase_nnxc.units import HARTREE_TO_EV, HARTREE_TO_KCAL_PER_MOL

#: ion: (element, charge, 2S of the ion, 2S after ionisation, NIST ionisation energy in eV).
#: NIST Atomic Spectra Database ground-state ionisation energies (Li II, C II, C III, Si III).
CATIONS = {
    "Li+": ("Li", 1, 0, 1, 75.6400),
    "C+": ("C", 1, 1, 0, 24.3833),
    "C2+": ("C", 2, 0, 1, 47.8878),
    "Si2+": ("Si", 2, 0, 1, 33.4930),
}


def r2scan_energy(symbol: str, charge: int, spin: int, basis: str) -> float:
    """Unrestricted r2SCAN energy (Hartree) of a free atom or ion, grid level 3."""
    mol = gto.M(atom=f"{symbol} 0 0 0", basis=basis, charge=charge, spin=spin, verbose=0)
    mf = dft.UKS(mol)
    mf.xc = "r2scan"
    mf.grids.level = 3
    mf.conv_tol = 1e-9
    mf.max_cycle = 200
    energy = mf.kernel()
    if not mf.converged:
        raise RuntimeError(f"{symbol}{charge:+d} did not converge in {basis}")
    return float(energy)


def main() -> None:
    """Print the r2SCAN IP errors of the cations in two bases."""
    bases = ("def2-svp", "def2-qzvp")
    print("r2SCAN ionisation energy minus NIST (kcal/mol)")
    print(f"{'ion':6s} " + " ".join(f"{b:>10s}" for b in bases))
    for ion, (symbol, charge, spin, spin_next, nist_ev) in CATIONS.items():
        errors = []
        for basis in bases:
            ip = r2scan_energy(symbol, charge + 1, spin_next, basis) - r2scan_energy(symbol, charge, spin, basis)
            errors.append((ip - nist_ev / HARTREE_TO_EV) * HARTREE_TO_KCAL_PER_MOL)
        print(f"{ion:6s} " + " ".join(f"{e:+10.1f}" for e in errors), flush=True)


if __name__ == "__main__":
    main()

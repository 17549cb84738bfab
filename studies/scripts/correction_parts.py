"""Where a trained hybrid moves the energy of atoms and ions, term by term.

    python studies/scripts/correction_parts.py He He+ H Be Be+          # the shipped functional
    python studies/scripts/correction_parts.py Li+ --xc runs/r2scan-fixed-b-candidate/model.pt

For ``E = a * model + b * base`` each system is converged with the base functional (in the
trained functional's own basis unless ``--basis`` names another; the training SCF settings) and, at that frozen density, the two parts of the change from the base
are printed in kcal/mol: the network's ``a * E_model`` and the base weight's ``(b - 1) * E_base``.
An ionisation energy changes by the cation's total minus the neutral's.
"""

from __future__ import annotations

import argparse

import torch
from cross_validate import SCF_CONFIG

from ase_nnxc.train import g2
from ase_nnxc.train.dataset import SystemSpec
from ase_nnxc.train.pretrain import freeze_system
from ase_nnxc.units import HARTREE_TO_KCAL_PER_MOL
from ase_nnxc.xc.features import FeatureMap
from ase_nnxc.xc.registry import get_functional


def parse(name: str, basis: str) -> SystemSpec:
    """``"He"`` or ``"He+"``: a neutral atom or its singly charged cation (ground-state spin)."""
    symbol, charge = (name[:-1], 1) if name.endswith("+") else (name, 0)
    return g2.atom_spec(symbol, basis, charge=charge)


def main() -> None:
    """Print the two parts of the correction for each named system."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("systems", nargs="+", help="atoms or singly charged cations: H He He+ Li+ ...")
    parser.add_argument("--xc", default="nnxc", help="a trained hybrid (name or checkpoint)")
    parser.add_argument("--basis", default=None, help="default: the functional's training basis")
    args = parser.parse_args()

    functional = get_functional(args.xc)
    if not hasattr(functional, "model"):
        parser.error(f"{args.xc} is not a hybrid of a base functional and a network")
    basis = args.basis or getattr(functional, "default_basis", None) or "def2-svp"
    print(
        f"{args.xc}: a = {float(functional.a):.4f}, b = {float(functional.b):.4f}; kcal/mol at {functional.base.name}/{basis} densities"
    )
    print(f"{'system':8s} {'a*model':>10s} {'(b-1)*base':>11s} {'total':>9s}")
    for name in args.systems:
        frozen = freeze_system(parse(name, basis), functional.base, SCF_CONFIG)
        with torch.no_grad():
            features = FeatureMap(frozen.features)
            model = float((frozen.weights * functional.a * functional.model(features)).sum())
        base = float(functional.b - 1) * frozen.xc_energy  # frozen with the base: its XC energy
        model, base = model * HARTREE_TO_KCAL_PER_MOL, base * HARTREE_TO_KCAL_PER_MOL
        print(f"{name:8s} {model:+10.2f} {base:+11.2f} {model + base:+9.2f}")


if __name__ == "__main__":
    main()

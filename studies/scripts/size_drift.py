"""How much of the change between two functionals grows with molecular size, and why.

    python studies/scripts/size_drift.py runs/nnxc-r2scan-tzvp-ips-candidate/model.pt     # seconds
    python studies/scripts/size_drift.py nnxc --reference r2scan          # the shipped correction itself

On the training pool (frozen r2SCAN densities in def2-TZVP, the cache of
``studies/scripts/cross_validate.py --basis def2-tzvp``; no test molecule is loaded) this prints the mean
change of the atomisation energies from ``--reference`` to ``FUNCTIONAL`` for molecules with
0, 1 and 2 non-hydrogen atoms, split into the part of the base weight ``b`` and the part of
the network. ``dAE/db`` is r2SCAN's XC contribution to the atomisation energy (with the
network option ``lda_anchor``, that of r2SCAN's departure from LSDA): a change of
``b`` moves every atomisation energy in proportion to it, and it grows with the number of
bonds, so a small change of ``b`` that the training molecules barely feel shifts the larger
test molecules by several kcal/mol.

It also prints both functionals' errors on the ionisation energies beyond H-Ar of
``ase_nnxc.train.g2.EXTRA_IONISATIONS`` (He-like Li+, K, Ca, Ga; the split allows them, the
shipped data do not contain them) at the same frozen densities, when the cache holds them.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from cross_validate import (
    MODEL_OPTIONS,
    add_tzvp_frozen_arguments,
    extra_ip_set,
    frozen_errors,
    heavy_atoms,
    load_frozen_cache,
)

from ase_nnxc.train.checkpoint import build_functional
from ase_nnxc.train.dataset import load_dataset
from ase_nnxc.train.pretrain import FrozenSet
from ase_nnxc.units import HARTREE_TO_KCAL_PER_MOL
from ase_nnxc.xc import get_functional


def main() -> None:
    """Print the size-resolved change and its b and network parts."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("functional", help="checkpoint (.pt) or shipped name, with base r2SCAN")
    parser.add_argument(
        "--reference",
        default="nnxc-r2scan-tzvp-2026.12",
        help="shipped name, checkpoint, or r2scan (no correction); default: the one the README's drift figures use",
    )
    add_tzvp_frozen_arguments(parser)
    parser.add_argument("--molecules", nargs="*", default=["CH4", "C2H6", "C2H2", "N2"])
    args = parser.parse_args()

    frozen = load_frozen_cache(parser, args.cache)
    if args.reference == "r2scan":  # the hybrid with a = 0, b = 1 is r2SCAN itself
        old = build_functional("nn-mgga", MODEL_OPTIONS, "r2scan")
    else:
        old = get_functional(args.reference)
    new = get_functional(args.functional)
    b_old, b_new = (torch.as_tensor(f.b).item() for f in (old, new))
    data = FrozenSet(frozen, [e for e in load_dataset(args.data) if e.e_type == "ae"])
    with torch.no_grad():
        change = (data.predictions(new) - data.predictions(old)).numpy() * HARTREE_TO_KCAL_PER_MOL
    base_xc = data.base_xc_energy

    def base_part(functional, b):
        """Per-entry XC energy of the functional's base term (kcal/mol) and its derivative w.r.t. b."""
        anchor = getattr(functional, "anchor", None)
        lsda = torch.zeros_like(base_xc) if anchor is None else data.fixed_xc_energies(anchor)
        values = (lsda + b * (base_xc - lsda), base_xc - lsda)
        return [(data.coefficients @ v).numpy() * HARTREE_TO_KCAL_PER_MOL for v in values]

    (old_part, _), (new_part, dae_db) = base_part(old, b_old), base_part(new, b_new)
    from_b = new_part - old_part
    heavy = np.array([heavy_atoms(e) for e in data.entries])
    print(f"b: {b_old:.5f} -> {b_new:.5f}; AE changes in kcal/mol at frozen r2SCAN densities")
    print("non-H atoms  molecules  change  from b  network  dAE/db per 0.001")
    for n in sorted(set(heavy)):
        m = heavy == n
        print(f"{n:11d}  {m.sum():9d}  {change[m].mean():+6.2f}  {from_b[m].mean():+6.2f}  "
              f"{(change - from_b)[m].mean():+7.2f}  {dae_db[m].mean() / 1000:16.2f}")  # fmt: skip
    names = [e.name.removeprefix("AE ") for e in data.entries]
    for molecule in args.molecules:
        i = names.index(molecule)
        print(
            f"{molecule:6s} change {change[i]:+.2f}, from b {from_b[i]:+.2f}, dAE/db per 0.001 {dae_db[i] / 1000:.2f}"
        )
    extra = extra_ip_set(frozen, data.entries[0].systems[0].basis)
    if extra:
        print("IP error beyond H-Ar, kcal/mol: " + " ".join(f"{e.name.removeprefix('IP '):>6s}" for e in extra.entries))
        for label, functional in (("reference", old), ("functional", new)):
            print(f"  {label:29s} " + " ".join(f"{x:+6.2f}" for x in frozen_errors(functional, extra)))


if __name__ == "__main__":
    main()

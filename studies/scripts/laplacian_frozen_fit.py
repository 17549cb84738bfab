"""Fit the shipped recipe with and without the density Laplacian as an input, at frozen densities.

    python studies/scripts/laplacian_frozen_fit.py                       # about 8 minutes on 2 cores
    python studies/scripts/laplacian_frozen_fit.py --seed 0 1 --steps 20 40 80 --fixed-b 0.98309
    python studies/scripts/laplacian_frozen_fit.py --models q --seed 0 1 2 --steps 20 40 80 --fixed-b 0.98309 --split-size

80 steps take about 5 minutes per model and seed (10 with ``--split-size`` on one thread).

A feasibility check before any core support: the Kohn-Sham core has no Laplacian-level
functionals (no potential or forces for them), so this script only evaluates energies at the
frozen r2SCAN/def2-TZVP densities of the training pool (the cache of
``studies/scripts/cross_validate.py``). It appends the reduced Laplacian
``q = lap(rho) / (4 (3 pi^2)^(2/3) rho^(5/3))`` of the total density (PySCF's AO second
derivatives, on the same retained grid points) and trains two corrections with the shipped
recipe (r2SCAN + 8x8 network, ``high_density``, uniform-gas limit, training pool plus the exact
H2 points at weight ``--h2-weight``, full-batch Adam at lr ``--lr``):

* ``nn-mgga``: the shipped inputs (rho, s, alpha, zeta). Its seed-0 misses reproduce the
  shipped functional's frozen H2 misses, which checks this loop against ``pretrain``;
* ``+ q``: the same with ``q / sqrt(1 + q^2)`` as a fifth input (0 for the uniform gas, so the
  uniform-gas limit still holds).

For each it prints the frozen misses of the H2 binding energies at the training distances,
the pool's atomisation MAE, the training IPs' MAE and b. Only training data are used.
"""

from __future__ import annotations

import argparse
import itertools
from dataclasses import replace

import numpy as np
import torch
from cross_validate import MODEL_OPTIONS, SCF_CONFIG, TYPE_WEIGHTS, heavy_atoms
from laplacian_separation import reduced_laplacian
from pyscf import dft

from ase_nnxc.grid.becke import MolecularGrid
from ase_nnxc.grid.density import AOCache, density_features
from ase_nnxc.train import g2
from ase_nnxc.train.checkpoint import build_functional
from ase_nnxc.train.h2 import TRAINING_DISTANCES, binding_curve_entries
from ase_nnxc.train.pretrain import DENSITY_CUTOFF, FrozenSet
from ase_nnxc.units import HARTREE_TO_KCAL_PER_MOL
from ase_nnxc.xc.features import DENSITY_FLOOR
from ase_nnxc.xc.neural import NeuralMetaGGA


class LaplacianMetaGGA(NeuralMetaGGA):
    """``nn-mgga`` with the reduced Laplacian of the total density as one more input.

    Energies only: the reduced Laplacian of the points it will be evaluated on is set in
    :attr:`q` beforehand (the feature maps of the core carry no Laplacian).
    """

    _n_local = 4

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.q: torch.Tensor | None = None

    def _local_descriptors(self, rho, sigma, tau, zeta=None):
        return super()._local_descriptors(rho, sigma, tau, zeta) + [self.q / torch.sqrt(1.0 + self.q**2)]

    def _uniform_values(self, descriptors):
        uniform = super()._uniform_values(descriptors)
        return uniform[:3] + [torch.zeros_like(descriptors[3])] + uniform[4:]


def frozen_reduced_laplacian(spec, system, keep_count: int) -> torch.Tensor:
    """Reduced Laplacian of ``system``'s frozen total density on its retained grid points."""
    mol = spec.to_system().to_mole()
    grid = MolecularGrid(mol, SCF_CONFIG.grid_level)
    cache = AOCache(mol, grid.coords, "lda")
    density = system.density
    with torch.no_grad():
        rho = density_features(density, torch.from_numpy(grid.coords), torch.zeros(mol.natm, 3), cache, 1)
    keep = (rho[:, 0].sum(0) > DENSITY_CUTOFF).numpy()
    if keep.sum() != keep_count:
        raise RuntimeError(f"{spec.key[0]}: {keep.sum()} retained points against the cache's {keep_count}")
    coords = grid.coords[keep]
    total = density.sum(0).numpy()
    lapl = np.empty(len(coords))
    for start in range(0, len(coords), 8192):
        block = slice(start, start + 8192)
        ao = dft.numint.eval_ao(mol, coords[block], deriv=2)
        values = dft.numint.eval_rho(mol, ao, total, xctype="MGGA", with_lapl=True)
        lapl[block] = values[4]
    rho_total = system.features[:, 0].sum(0).clamp(min=DENSITY_FLOOR).numpy()
    return torch.from_numpy(reduced_laplacian(rho_total, lapl))


def errors(functional, data: FrozenSet) -> torch.Tensor:
    """Prediction minus target of every entry, kcal/mol (differentiable, unlike ``frozen_errors``)."""
    return (data.predictions(functional) - data.targets) * HARTREE_TO_KCAL_PER_MOL


def main() -> None:
    """Print the frozen H2 misses and training errors of both models for each seed and step count."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", default="results/cross_validation/frozen-r2scan-def2-tzvp.pt")
    parser.add_argument("--seed", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, nargs="+", default=[20])
    parser.add_argument("--lr", type=float, default=0.02)
    parser.add_argument("--h2-weight", type=float, default=20.0)
    parser.add_argument(
        "--split-size",
        action="store_true",
        help="train on the molecules with at most one non-hydrogen atom (plus IPs and H2), print the MAE of those with two",
    )
    parser.add_argument("--models", nargs="+", choices=["nn-mgga", "q"], default=["nn-mgga", "q"])
    parser.add_argument("--fixed-b", type=float, default=None, metavar="B", help="hold the base weight b at B")
    args = parser.parse_args()

    basis = "def2-tzvp"
    pool = g2.training_entries(basis)
    h2 = [replace(e, weight=args.h2_weight) for e in binding_curve_entries(TRAINING_DISTANCES, basis)]
    frozen = torch.load(args.cache, weights_only=False)
    data = FrozenSet(frozen, pool + h2)
    if data.skipped:
        parser.error(
            f"{len(data.skipped)} entries lack frozen densities in {args.cache}: run studies/scripts/h2_weights.py first"
        )
    specs = {s.key: s for e in data.entries for s in e.systems}
    q = torch.cat([frozen_reduced_laplacian(specs[k], frozen[k], frozen[k].weights.numel()) for k in data.keys])
    loss_weights = torch.tensor([e.weight * TYPE_WEIGHTS[e.e_type] for e in data.entries], dtype=torch.float64)
    is_h2 = np.array([e in h2 for e in data.entries])
    is_ae = np.array([e.e_type == "ae" for e in data.entries]) & ~is_h2
    is_ip = np.array([e.e_type == "ie" for e in data.entries])
    validation = np.zeros(len(data.entries), dtype=bool)
    if args.split_size:
        validation = is_ae & np.array([heavy_atoms(e) == 2 for e in data.entries])
        loss_weights[torch.from_numpy(validation)] = 0.0
    options = {**MODEL_OPTIONS, "high_density": True}

    print(
        f"frozen misses of the H2 binding energy at {', '.join(f'{r:g}' for r in TRAINING_DISTANCES)} Angstrom; "
        f"H2 weight {args.h2_weight:g}, lr {args.lr:g}"
    )
    print(
        "model    seed steps |"
        + "".join(f" {r:6.2f}" for r in TRAINING_DISTANCES)
        + " |  AE MAE  IP MAE        b"
        + ("  validation" if args.split_size else "")
    )
    for with_q, seed in itertools.product([m == "q" for m in args.models], args.seed):
        b = {"b": 1.0} if args.fixed_b is None else {"b": args.fixed_b, "train_b": False}
        functional = build_functional("nn-mgga", {**options, "seed": seed}, "r2scan", **b)
        if with_q:
            functional.model = LaplacianMetaGGA(**{**options, "seed": seed})
            functional.model.q = q
        params = [p for p in functional.parameters() if p.requires_grad]
        optimiser = torch.optim.Adam(params, lr=args.lr)
        done = 0
        for stop in args.steps:
            for _ in range(stop - done):
                optimiser.zero_grad()
                err = errors(functional, data)
                loss = (loss_weights * err**2).sum() / loss_weights.sum()
                loss.backward()
                optimiser.step()
            done = stop
            with torch.no_grad():
                err = errors(functional, data).numpy()
            cells = "".join(f" {x:+6.2f}" for x in err[is_h2])
            name = "+ q" if with_q else "nn-mgga"
            fitted = is_ae & ~validation
            line = (
                f"{name:8s} {seed:4d} {stop:5d} |{cells} | {np.abs(err[fitted]).mean():7.2f} "
                f"{np.abs(err[is_ip]).mean():7.2f} {float(functional.b.detach()):8.5f}"
            )
            if args.split_size:
                line += f"  {np.abs(err[validation]).mean():10.2f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()

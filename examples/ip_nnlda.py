"""NN-LDA trained on ionisation potentials of atoms (DeepChem/xcnn's reference experiment).

Trains a HybridXC (LDA + NN-LDA correction) on the experimental IPs of some atoms from
ASE's G2 data and reports the MAE on held-out atoms, for both an L2 and an L1 loss, beside
plain LDA. Writes a bar plot and a Markdown table to --out, and each trained functional to
OUT/nn-lda-LOSS/model.pt (``NNXC(xc=...)`` loads it; ``examples/h2_trained.py`` takes the
L2 one through the H2 dissociation curve).

Run: python examples/ip_nnlda.py [--epochs 40] [--out examples/output/ip]
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ase_nnxc.scf import SCFConfig  # noqa: E402
from ase_nnxc.train.config import TrainConfig  # noqa: E402
from ase_nnxc.train.dataset import save_dataset  # noqa: E402
from ase_nnxc.train.g2 import ionisation_entries  # noqa: E402
from ase_nnxc.train.predict import Predictor  # noqa: E402
from ase_nnxc.train.trainer import Trainer, evaluate, mean_absolute_error  # noqa: E402
from ase_nnxc.xc import get_functional  # noqa: E402

TRAIN = ["Li", "C", "N", "O", "Na", "Si", "S"]
TEST = ["Be", "F", "P", "Cl"]


def scf_options(grid_level):
    """SCF settings of training and evaluation (open-shell atoms may be non-aufbau)."""
    return {"conv_tol": 1e-9, "grid_level": grid_level, "require_aufbau": False}


def train_nn_lda(out, loss, epochs, basis="def2-svp", grid_level=2):
    """Train the NN-LDA correction to LDA on the IPs of ``TRAIN`` with ``loss``.

    Writes OUT/ip_train.yaml and OUT/nn-lda-LOSS/{model.pt,last.pt,log.csv}; returns the
    :class:`Trainer` (its ``functional`` is the trained HybridXC).
    """
    out = Path(out)
    save_dataset(ionisation_entries(TRAIN, basis), out / "ip_train.yaml")
    config = TrainConfig(
        train=str(out / "ip_train.yaml"),
        output=str(out / f"nn-lda-{loss}"),
        model="nn-lda",
        model_options={"hidden": [16, 16]},
        base="lda,vwn",
        loss=loss,
        optimizer="adam",
        lr=0.01,
        epochs=epochs,
        seed=0,
        scf=scf_options(grid_level),
    )
    trainer = Trainer(config)
    trainer.run()
    return trainer


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--basis", default="def2-svp")
    parser.add_argument("--grid-level", type=int, default=2)
    parser.add_argument("--out", default="examples/output/ip")
    args = parser.parse_args()
    out = Path(args.out)
    test_entries = ionisation_entries(TEST, args.basis)
    save_dataset(test_entries, out / "ip_test.yaml")
    scf = SCFConfig(**scf_options(args.grid_level))

    rows = {"LDA": mean_absolute_error(evaluate(Predictor(get_functional("lda,vwn"), scf), test_entries))}
    for loss in ("l2", "l1"):
        trainer = train_nn_lda(out, loss, args.epochs, args.basis, args.grid_level)
        results = evaluate(Predictor(trainer.functional, scf), test_entries)
        rows[f"NN-LDA ({loss.upper()} loss)"] = mean_absolute_error(results)

    table = ["| functional | held-out IP MAE (kcal/mol) |", "|---|---|"]
    table += [f"| {name} | {mae:.2f} |" for name, mae in rows.items()]
    table.append(f"\nTrain atoms: {', '.join(TRAIN)}; test atoms: {', '.join(TEST)}; basis {args.basis}.")
    (out / "ip_results.md").write_text("\n".join(table) + "\n")
    print("\n".join(table))
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.bar(list(rows), list(rows.values()), color=["grey", "tab:blue", "tab:orange"])
    ax.axhline(28.8, ls="--", color="k", label="DeepChem NN-LDA (28.8)")
    ax.set_ylabel("held-out IP MAE (kcal/mol)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "ip_mae.png", dpi=120)
    print(f"wrote {out / 'ip_mae.png'} and {out / 'ip_results.md'}")


if __name__ == "__main__":
    main()

"""Load an `nnxc export` TorchScript artefact with torch alone (no ase_nnxc, PySCF or NumPy).

Run: python examples/torchscript_consumer.py MODEL.pt [--check REFERENCE.pt]

Checks MODEL.pt against the SHA-256 in MODEL.pt.json (exit status 2 with one line naming the
file if they differ), prints what the sidecar says, and evaluates the module on a few grid
points: the XC energy density and its derivatives, which is all a host code needs besides
libxc for the base functional named in the sidecar. With --check, REFERENCE.pt (written by
benchmarks/torchscript_standalone.py) holds features, base energy densities and the Python
model's energy densities; the largest relative difference is printed (exit 1 above 1e-12).
"""

import argparse
import hashlib
import json
import sys

import torch


def load(path):
    """The module and its sidecar, after checking the file's SHA-256."""
    with open(path + ".json") as handle:
        sidecar = json.load(handle)
    with open(path, "rb") as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()
    if digest != sidecar["sha256"]:
        raise SystemExit(
            f"{path}: SHA-256 {digest} does not match {sidecar['sha256']} in its sidecar; refusing to load it"
        )
    return torch.jit.load(path), sidecar


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--check", metavar="REFERENCE.pt")
    args = parser.parse_args()
    try:
        module, sidecar = load(args.model)
    except SystemExit as err:
        print(err, file=sys.stderr)
        return 2
    print(
        f"{sidecar['name']}: base {sidecar['base']}, {sidecar['family']} (nvar {sidecar['nvar']}), "
        f"trained in {sidecar['basis']}, exact exchange {sidecar['exact_exchange']}"
    )
    # Two closed-shell grid points: rho, grad rho, tau (total density) and the base's energy density.
    features = torch.tensor(
        [[[0.3, 0.001], [0.01, 1e-4], [-0.02, 0.0], [0.05, 0.0], [0.4, 5e-4]]], dtype=torch.float64
    )[:, : sidecar["nvar"]].requires_grad_(True)
    base = torch.tensor([-0.2, -8e-4], dtype=torch.float64, requires_grad=True)
    energy = module(features, base)
    energy.sum().backward()
    print("energy density", energy.tolist())
    print("d e / d features", features.grad[0].T.tolist())
    print("d e / d base", base.grad.tolist())
    if args.check:
        reference = torch.load(args.check, weights_only=True)
        worst = 0.0
        for layout in ("restricted", "unrestricted"):
            got = module(reference[f"{layout}_features"], reference[f"{layout}_base"])
            expected = reference[f"{layout}_energy"]
            error = ((got - expected).abs() / expected.abs()).max().item()
            print(f"{layout}: {expected.numel()} points, largest relative difference {error:.2e}")
            worst = max(worst, error)
        return 0 if worst <= 1e-12 else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

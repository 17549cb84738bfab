"""The exported TorchScript artefact in an environment with torch only, and from C++ (LibTorch).

Run: python benchmarks/torchscript_standalone.py [--model nnxc] [--venv /tmp/tsvenv] [--create] [--cxx]

1. Exports MODEL with ase_nnxc and writes 10,000 random feature points per spin layout
   (closed shell and spin-resolved; densities over 8 decades, tau >= tau_W), the base
   functional's energy densities (libxc) and the Python model's energy densities.
2. Runs examples/torchscript_consumer.py with the virtual environment's Python, which must
   not be able to import ase_nnxc, PySCF or NumPy (``--create`` makes it:
   ``python -m venv VENV && VENV/bin/pip install torch==2.13.0``): the artefact loads after
   its SHA-256 check and reproduces the Python energy densities (largest relative difference
   printed; 1e-12 required).
3. Changes one byte of a copy of the artefact and checks that the consumer refuses it.
4. With --cxx: compiles examples/libtorch/evaluate.cpp against the LibTorch inside the torch
   wheel and compares its energy densities and derivatives with ase_nnxc's.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from ase_nnxc.grid.density import NVAR
from ase_nnxc.xc import FeatureMap, get_functional
from ase_nnxc.xc.torchscript import export_torchscript, random_features, sidecar_path

ROOT = Path(__file__).resolve().parents[1]
CONSUMER = ROOT / "examples" / "torchscript_consumer.py"
CPP = ROOT / "examples" / "libtorch" / "evaluate.cpp"


def write_reference(functional, path: Path, npoint: int) -> None:
    generator = torch.Generator().manual_seed(7)
    nvar = NVAR[functional.family]
    data = {}
    for layout, nspin in (("restricted", 1), ("unrestricted", 2)):
        features = random_features(nspin, nvar, npoint, generator)
        data[f"{layout}_features"] = features
        data[f"{layout}_base"] = functional.base(FeatureMap(features[:, : NVAR[functional.base.family]])).detach()
        data[f"{layout}_energy"] = functional(FeatureMap(features)).detach()
    torch.save(data, path)


def run(command: list[str], isolated: bool = False) -> subprocess.CompletedProcess:
    """Run ``command``; ``isolated`` drops PYTHONPATH so that the venv sees nothing of this tree."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} if isolated else None
    return subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)


def check_venv(venv: Path, artefact: Path, reference: Path, workdir: Path) -> bool:
    # -W: torch warns at import that NumPy is missing, which is the point here.
    python = [str(venv / "bin" / "python"), "-W", "ignore::UserWarning"]
    isolated = run(
        [
            *python,
            "-c",
            "import importlib.util as u; print([m for m in ('ase_nnxc', 'pyscf', 'numpy', 'ase') if u.find_spec(m)])",
        ],
        True,
    )
    print(f"venv {venv}: importable among ase_nnxc, pyscf, numpy, ase: {isolated.stdout.strip()}")
    good = run([*python, str(CONSUMER), str(artefact), "--check", str(reference)], True)
    print(good.stdout.strip())
    tampered = workdir / "tampered.pt"
    shutil.copyfile(artefact, tampered)
    shutil.copyfile(sidecar_path(artefact), sidecar_path(tampered))
    data = bytearray(tampered.read_bytes())
    data[len(data) // 2] ^= 0x01
    tampered.write_bytes(bytes(data))
    bad = run([*python, str(CONSUMER), str(tampered)], True)
    print(f"one changed byte: exit status {bad.returncode}: {bad.stderr.strip()}")
    return (
        isolated.stdout.strip() == "[]"
        and good.returncode == 0
        and bad.returncode == 2
        and "does not match" in bad.stderr
    )


def check_cxx(functional, artefact: Path, workdir: Path) -> bool:
    libtorch = Path(torch.__file__).parent
    binary = workdir / "evaluate"
    build = run(
        [
            "g++",
            "-std=c++20",
            "-O1",
            "-w",
            f"-I{libtorch / 'include'}",
            f"-I{libtorch / 'include/torch/csrc/api/include'}",
            str(CPP),
            "-o",
            str(binary),
            f"-L{libtorch / 'lib'}",
            "-ltorch",
            "-ltorch_cpu",
            "-lc10",
            f"-Wl,-rpath,{libtorch / 'lib'}",
        ]
    )
    if build.returncode != 0:
        print("C++ build failed:", build.stderr[-2000:])
        return False
    features = random_features(1, 5, 200, torch.Generator().manual_seed(3)).requires_grad_(True)
    base = functional.base(FeatureMap(features)).detach().requires_grad_(True)
    energy = functional.combine(base, FeatureMap(features))
    energy.sum().backward()
    points = workdir / "points.txt"
    rows = torch.cat([features.detach()[0].T, base.detach()[:, None]], 1)
    points.write_text("\n".join(" ".join(repr(v) for v in row.tolist()) for row in rows) + "\n")
    output = run([str(binary), str(artefact), str(points)])
    if output.returncode != 0:
        print("C++ run failed:", output.stderr[-2000:])
        return False
    got = torch.tensor([[float(v) for v in line.split()] for line in output.stdout.splitlines()], dtype=torch.float64)
    expected = torch.cat([energy.detach()[:, None], features.grad[0].T, base.grad[:, None]], 1)
    energy_error = ((got[:, 0] - expected[:, 0]).abs() / expected[:, 0].abs()).max().item()
    derivative_error = ((got[:, 1:] - expected[:, 1:]).abs() / expected[:, 1:].abs().clamp(min=1e-300)).max().item()
    print(
        f"C++ (LibTorch from the torch wheel): 200 points, energy density rel. diff {energy_error:.1e}, "
        f"derivatives rel. diff {derivative_error:.1e}"
    )
    return energy_error <= 1e-12 and derivative_error <= 1e-10


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="nnxc")
    parser.add_argument("--venv", type=Path, default=Path("/tmp/tsvenv"))
    parser.add_argument("--create", action="store_true", help="create the venv (torch==2.13.0 only) if missing")
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--cxx", action="store_true", help="also compile and run the LibTorch example")
    args = parser.parse_args()
    if not (args.venv / "bin" / "python").exists():
        if not args.create:
            print(f"no virtual environment at {args.venv}; pass --create", file=sys.stderr)
            return 2
        subprocess.run([sys.executable, "-m", "venv", str(args.venv)], check=True)
        subprocess.run([str(args.venv / "bin" / "pip"), "install", "-q", "torch==2.13.0"], check=True)
    functional = get_functional(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        artefact = workdir / f"{args.model}.pt"
        sidecar = export_torchscript(functional, artefact)
        print(f"exported {args.model}: sha256 {sidecar['sha256']}")
        reference = workdir / "reference.pt"
        write_reference(functional, reference, args.points)
        ok = check_venv(args.venv, artefact, reference, workdir)
        if args.cxx:
            ok = check_cxx(functional, artefact, workdir) and ok
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

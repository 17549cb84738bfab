"""Options, input reading and output formatting that the calculation subcommands share.

Building the parser (``nnxc --help``) loads ASE and NumPy but neither torch nor PySCF.
"""

from __future__ import annotations

import argparse
import difflib
import json
from pathlib import Path

from ase_nnxc.calculator import NNXC
from ase_nnxc.cli import CommandError

# The command line shows and uses the calculator's own defaults.
_DEFAULTS = NNXC.default_parameters
DEFAULT_XC = _DEFAULTS["xc"]
DEFAULT_BASIS = "def2-svp"  # used when neither --basis nor a checkpoint names one
DEFAULT_GRID_LEVEL = _DEFAULTS["grid_level"]  # None: the checkpoint's level, else 3
DEFAULT_CONV_TOL = _DEFAULTS["conv_tol"]
DEFAULT_MAX_CYCLE = _DEFAULTS["max_cycle"]


def add_structure_arguments(parser: argparse.ArgumentParser, multiple: bool = True) -> None:
    """Add the input file, its format and which image of it to use."""
    parser.add_argument(
        "file",
        help="structure file in any format ase.io.read understands (xyz, extxyz, traj, pdb, cif, "
        "POSCAR, Gaussian/ORCA input, ...); positions in Angstrom",
    )
    parser.add_argument(
        "--format",
        default=None,
        metavar="FORMAT",
        help="ase.io format name when the file name does not tell (default: guessed)",
    )
    what = "image(s)" if multiple else "image"
    example = "; '0', '-1', ':' or '::2'" if multiple else "; e.g. '0' or '-1'"
    parser.add_argument(
        "--index",
        default="-1",
        metavar="INDEX",
        help=f"{what} of a multi-image file, ASE index syntax{example} (default: -1, the last)",
    )


def add_calculator_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of :class:`ase_nnxc.NNXC` as command-line flags."""
    group = parser.add_argument_group("calculator")
    group.add_argument(
        "--xc",
        default=DEFAULT_XC,
        metavar="NAME",
        help="exchange-correlation functional: a libxc name ('lda,vwn', 'pbe', 'b3lyp', 'r2scan', ...), "
        f"a registered model name, or a checkpoint path (default: {DEFAULT_XC})",
    )
    group.add_argument(
        "--basis",
        default=None,
        metavar="NAME",
        help="any basis set PySCF knows, e.g. sto-3g, def2-tzvp, cc-pvdz; a trained checkpoint "
        f"uses its own unless this is given (default: {DEFAULT_BASIS})",
    )
    group.add_argument(
        "--charge",
        type=int,
        default=None,
        help="net charge (default: the sum of the file's initial charges, usually 0)",
    )
    group.add_argument(
        "--spin",
        type=int,
        default=None,
        metavar="2S",
        help="number of unpaired electrons, N_alpha - N_beta; 0 runs restricted (RKS), more runs "
        "unrestricted (UKS) (default: the sum of the file's initial magnetic moments, usually 0)",
    )
    group.add_argument(
        "--break-symmetry",
        action="store_true",
        help="run closed shells unrestricted from a guess with mixed frontier orbitals, so stretched "
        "bonds can reach their lower broken-symmetry solution",
    )
    group.add_argument(
        "--grid-level",
        type=int,
        default=DEFAULT_GRID_LEVEL,
        metavar="LEVEL",
        help="PySCF integration grid level, 0 (coarse) to 9 (fine); a trained checkpoint uses the level it was "
        "trained on unless this is given (default: 3)",
    )
    group.add_argument(
        "--conv-tol",
        type=float,
        default=DEFAULT_CONV_TOL,
        metavar="HARTREE",
        help=f"SCF energy convergence threshold in Hartree (default: {DEFAULT_CONV_TOL:g})",
    )
    group.add_argument(
        "--max-cycle",
        type=int,
        default=DEFAULT_MAX_CYCLE,
        metavar="N",
        help="SCF cycles per attempt (DIIS, then direct minimisation, then damped DIIS), the whole SCF at most "
        f"twice that (default: {DEFAULT_MAX_CYCLE})",
    )
    group.add_argument(
        "--density-fit",
        action="store_true",
        help="fit Coulomb and exact exchange in an auxiliary basis, as PySCF's density_fit(): faster "
        "for larger molecules, with a small fitting error in the energy",
    )
    group.add_argument(
        "--auxbasis",
        default=None,
        metavar="NAME",
        help="auxiliary basis for --density-fit, e.g. def2-universal-jkfit or weigend (default: PySCF's "
        "choice for the basis and functional)",
    )
    group.add_argument(
        "--dispersion",
        type=str.lower,
        choices=("none", "d4"),
        default="none",
        help="add DFT-D4 dispersion (dftd4) to the energy and forces, with the functional's own "
        "parameters: dftd4's table for libxc functionals, the ones stored with a trained "
        "functional or its base functional's (default: none)",
    )
    group.add_argument("--verbose", "-v", action="store_true", help="print every SCF cycle")


def read_images(args: argparse.Namespace) -> list:
    """Read the ASE ``Atoms`` selected by ``args.file``, ``args.format`` and ``args.index``.

    Raises
    ------
    CommandError
        When the file is missing, unreadable, holds no structure or the index selects nothing.

    """
    from ase.io import read
    from ase.io.formats import ioformats, string2index

    path = Path(args.file)
    if not path.is_file():
        raise CommandError(f"cannot read {args.file}: no such file")
    if args.format is not None and args.format not in ioformats:
        close = difflib.get_close_matches(args.format, list(ioformats), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else "; `ase info --formats` lists them"
        raise CommandError(f"--format {args.format!r} is not a format ase.io knows{hint}")
    try:
        index = string2index(args.index)
    except ValueError:
        index = None
    if not isinstance(index, (int, slice)):
        raise CommandError(f"--index {args.index!r} is not an image index or slice ('0', '-1', ':', '::2')")
    try:
        images = read(path, index=args.index, format=args.format)
    except (StopIteration, IndexError) as err:
        count = _count_images(path, args.format)
        raise CommandError(
            f"--index {args.index} is out of range: {args.file} holds {count} image(s) (index 0 to {count - 1})"
        ) from err
    except Exception as err:  # ase.io readers raise anything from ValueError to StopIteration
        detail = " ".join(str(err).split()) or type(err).__name__
        raise CommandError(f"cannot read a structure from {args.file}: {detail}") from err
    images = images if isinstance(images, list) else [images]
    if not images:
        raise CommandError(f"index {args.index!r} selects no structure in {args.file}")
    for image in images:
        if len(image) == 0:
            raise CommandError(f"{args.file} holds a structure without atoms")
    return images


def _count_images(path: Path, format: str | None) -> int:
    from ase.io import iread

    try:
        return sum(1 for _ in iread(path, index=":", format=format))
    except Exception:  # a reader that fails on the way: as many as it gave
        return 0


def make_calculator(args: argparse.Namespace):
    """Build a fresh :class:`ase_nnxc.NNXC` from the calculator options."""
    return NNXC(
        xc=args.xc,
        basis=args.basis,
        charge=args.charge,
        spin=args.spin,
        break_symmetry=args.break_symmetry,
        grid_level=args.grid_level,
        conv_tol=args.conv_tol,
        max_cycle=args.max_cycle,
        density_fit=args.density_fit,
        auxbasis=args.auxbasis,
        dispersion=getattr(args, "dispersion", "none"),
        verbose=args.verbose,
    )


def record(atoms, image: int | None, args: argparse.Namespace, with_forces: bool) -> dict:
    """Energy, dipole and (optionally) forces of ``atoms`` as a JSON-ready dictionary (eV, Angstrom)."""
    import numpy as np

    from ase_nnxc.units import BOHR_TO_ANGSTROM, EBOHR_TO_DEBYE, HARTREE_TO_EV

    calc = atoms.calc
    forces = atoms.get_forces() if with_forces else None  # first, so that one SCF gives both
    energy = float(atoms.get_potential_energy())
    dipole = atoms.get_dipole_moment()
    system = calc.system
    out = {
        "file": str(args.file),
        "image": image,
        "formula": atoms.get_chemical_formula(),
        "xc": str(args.xc),
        "basis": calc.basis,
        "charge": system.charge,
        "spin": system.spin,
        "energy_eV": energy,
        "energy_Ha": energy / HARTREE_TO_EV,
        "dipole_eA": dipole.tolist(),
        "dipole_Debye": float(np.linalg.norm(dipole) / BOHR_TO_ANGSTROM * EBOHR_TO_DEBYE),
        "scf_cycles": calc.scf_cycles,
    }
    if calc.scf_result.density.shape[0] == 2:  # unrestricted
        out["spin_square"] = calc.spin_square
    if calc.auxbasis is not None:
        out["auxbasis"] = calc.auxbasis
    if calc.dispersion_parameters is not None:
        out["dispersion"] = {
            "model": "d4",
            "energy_eV": calc.dispersion_energy,
            "energy_Ha": calc.dispersion_energy / HARTREE_TO_EV,
            "parameters": calc.dispersion_parameters.as_dict(),
        }
    if forces is not None:
        norms = np.linalg.norm(forces, axis=1)
        out["forces_eV_per_A"] = forces.tolist()
        out["fmax_eV_per_A"] = float(norms.max())
    return out


def describe_dispersion(parameters: dict) -> str:
    """One line: D4 is included, with which parameters and from where."""
    values = ", ".join(f"{name}={parameters[name]:.8g}" for name in ("s6", "s8", "a1", "a2", "s9", "alp"))
    return f"D4 dispersion included in energy and forces: {values} ({parameters['source']})"


def print_record(rec: dict, as_json: bool, symbols: list[str] | None = None) -> None:
    """Write ``rec`` as one JSON line, or as a short human-readable block."""
    if as_json:
        print(json.dumps(rec), flush=True)
        return
    image = "" if rec["image"] is None else f" [image {rec['image']}]"
    print(
        f"{rec['file']}{image}: {rec['formula']}  {rec['xc']}/{rec['basis']}  "
        f"charge {rec['charge']}  spin {rec['spin']}"
    )
    if "auxbasis" in rec:
        print(f"  density fitting, auxiliary basis {rec['auxbasis']}")
    print(f"  energy      {rec['energy_eV']:.9f} eV  ({rec['energy_Ha']:.10f} Hartree)")
    if "dispersion" in rec:
        print(f"  {describe_dispersion(rec['dispersion']['parameters'])}")
        print(f"  of which D4 {rec['dispersion']['energy_eV']:.9f} eV  ({rec['dispersion']['energy_Ha']:.10f} Hartree)")
    dx, dy, dz = rec["dipole_eA"]
    print(f"  dipole      {dx:.6f} {dy:.6f} {dz:.6f} e*Angstrom  (|mu| = {rec['dipole_Debye']:.4f} Debye)")
    print(f"  SCF cycles  {rec['scf_cycles']}")
    if "spin_square" in rec:
        print(f"  <S^2>       {rec['spin_square']:.4f}")
    if "forces_eV_per_A" in rec:
        print("  forces (eV/Angstrom)")
        print(f"  {'atom':>5}  {'':<3}{'F_x':>13}{'F_y':>13}{'F_z':>13}")
        for i, (fx, fy, fz) in enumerate(rec["forces_eV_per_A"]):
            symbol = symbols[i] if symbols else ""
            print(f"  {i:>5}  {symbol:<3}{fx:>13.6f}{fy:>13.6f}{fz:>13.6f}")
        print(f"  fmax        {rec['fmax_eV_per_A']:.6f} eV/Angstrom")
    print(flush=True)


def add_json_argument(parser: argparse.ArgumentParser) -> None:
    """``--json``: one machine-readable line per image instead of the text block."""
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object per image (keys energy_eV, energy_Ha, dipole_eA, dipole_Debye, "
        "scf_cycles, ...; forces_eV_per_A and fmax_eV_per_A with forces, auxbasis with --density-fit, "
        "dispersion with --dispersion d4) instead of text",
    )


def compute_images(args: argparse.Namespace, with_forces: bool) -> int:
    """Run the calculator on every selected image and print the results; the exit status."""
    images = read_images(args)
    calc = make_calculator(args)
    for number, atoms in enumerate(images):
        atoms.calc = calc  # one calculator: consecutive images warm-start from each other
        image = None if len(images) == 1 else number
        rec = record(atoms, image, args, with_forces)
        print_record(rec, args.json, atoms.get_chemical_symbols())
    return 0

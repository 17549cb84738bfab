"""Training data in DeepChem's DFT YAML format, so existing DeepChem datasets load unchanged.

A file is a list of entries::

    - e_type: ae                     # ae | ie | dm | dens | force
      true_val: '0.09194410469'      # Hartree, or a .npy path (dm, dens)
      weight: 1.0                    # optional
      systems:
        - {moldesc: 'Li 1.5070 0 0; H -1.5070 0 0', basis: '6-311++G(3df,3pd)'}
        - {moldesc: 'Li 0 0 0', basis: '6-311++G(3df,3pd)', spin: 1}
        - {moldesc: 'H 0 0 0', basis: '6-311++G(3df,3pd)', spin: 1}
    - e_type: force                  # one system; true_val 0 (or omitted): an equilibrium geometry
      true_val: [[0, 0, 0.0123], [0, 0, -0.0123]]   # or forces in Hartree/Bohr, (natom, 3) or a .npy path
      systems:
        - {moldesc: 'H 0 0 0; H 0 0 1.5', basis: '6-31g'}

``moldesc`` coordinates are in Bohr. Entry keys are ``e_type``, ``true_val``, ``systems``,
``weight`` and ``name``; system keys ``moldesc``, ``basis``, ``spin``, ``charge`` and
``number``; any other key is an error naming it and the nearest known one (a misspelt
``bsis`` must not silently become the default basis). A ``.npy`` label path is looked up next
to the YAML file first, then in the working directory (DeepChem's convention: its test files
name paths from its repository root). DeepChem's prediction sets may omit ``true_val``; such
entries load for evaluation (``require_labels=False``) and are refused for training. Energy entries follow DeepChem's convention
``value = sum_{i>0} number_i E_i - number_0 E_0``: atomisation energy = atoms - molecule,
ionisation energy = cation - neutral. ``dm`` entries hold a reference density matrix of
the first system, ``dens`` a reference density matrix (``(nao, nao)``) or density values on
the system's grid. ``force`` entries hold the forces ``-dE/dR`` on the atoms of their one
system in Hartree/Bohr, rows in ``moldesc`` order: ``0`` for an equilibrium geometry (every
component zero), else an ``(natom, 3)`` array written inline or as a ``.npy`` path. The
loss compares all ``3 natom`` components.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from ase_nnxc.system import MolecularSystem

ENTRY_TYPES = ("ae", "ie", "dm", "dens", "force")
ENTRY_KEYS = ("e_type", "true_val", "systems", "weight", "name")
SYSTEM_KEYS = ("moldesc", "basis", "spin", "charge", "number")


class DatasetError(ValueError):
    """A dataset file or entry is malformed; the message names the file and entry."""


@dataclass(frozen=True)
class SystemSpec:
    """One molecule of an entry, as written in the YAML file."""

    moldesc: str
    """``"El x y z; El x y z"`` in Bohr."""
    basis: str
    """Basis set name."""
    spin: int = 0
    """``N_alpha - N_beta``."""
    charge: int = 0
    """Net charge."""
    number: int = 1
    """Multiplicity of this system in the energy combination (e.g. 2 for 2 H atoms)."""

    @property
    def key(self) -> tuple:
        """Identity of the calculation (systems shared between entries are computed once)."""
        return (" ".join(self.moldesc.split()), self.basis.lower(), self.spin, self.charge)

    def to_system(self) -> MolecularSystem:
        """The :class:`MolecularSystem` (positions in Bohr)."""
        symbols, positions = [], []
        for atom in self.moldesc.split(";"):
            parts = atom.split()
            if not parts:
                continue
            if len(parts) != 4:
                raise ValueError(f"cannot read atom {atom.strip()!r} in moldesc {self.moldesc!r} (want 'El x y z')")
            symbols.append(parts[0].capitalize() if not parts[0].isdigit() else parts[0])
            positions.append([float(x) for x in parts[1:]])
        if symbols and all(s.isdigit() for s in symbols):
            return MolecularSystem(tuple(int(s) for s in symbols), positions, self.basis, self.charge, self.spin)
        return MolecularSystem.from_symbols(symbols, positions, self.basis, self.charge, self.spin)

    def to_dict(self) -> dict:
        """YAML form."""
        out = {"moldesc": self.moldesc, "basis": self.basis}
        if self.spin:
            out["spin"] = self.spin
        if self.charge:
            out["charge"] = self.charge
        if self.number != 1:
            out["number"] = self.number
        return out


@dataclass(frozen=True)
class Entry:
    """One training or test datum."""

    e_type: str
    """``ae``, ``ie``, ``dm``, ``dens`` or ``force``."""
    true_val: float | np.ndarray | None = field(repr=False)
    """Label: Hartree for energies, an array for ``dm``/``dens``, ``0.0`` or ``(natom, 3)``
    Hartree/Bohr for ``force``; ``None`` for an unlabelled entry (evaluation only)."""
    systems: tuple[SystemSpec, ...]
    """The molecules involved."""
    weight: float = 1.0
    """Weight in the loss."""
    name: str = ""
    """Label used in reports."""

    def coefficients(self) -> list[int]:
        """Signed multiplicities of the energy combination."""
        return [-self.systems[0].number] + [s.number for s in self.systems[1:]]


def _check_keys(raw: dict, known: tuple[str, ...], where: str) -> None:
    """Refuse keys outside ``known``, suggesting the nearest known one."""
    for key in raw:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise DatasetError(f"{where}: unknown key {key!r}{hint} Known keys: {', '.join(known)}")


def _parse_system(raw, where: str) -> SystemSpec:
    if not isinstance(raw, dict):
        raise DatasetError(f"{where}: a system must be a mapping, got {type(raw).__name__}")
    _check_keys(raw, SYSTEM_KEYS, where)
    try:
        spec = SystemSpec(
            moldesc=str(raw["moldesc"]),
            basis=str(raw.get("basis", "def2-svp")),
            spin=int(raw.get("spin", 0)),
            charge=int(raw.get("charge", 0)),
            number=int(raw.get("number", 1)),
        )
        spec.to_system()  # validates elements, distances and the electron count against the spin
    except (KeyError, TypeError, ValueError) as err:
        raise DatasetError(f"{where}: {err}") from err
    return spec


def _parse_entry(raw, index: int, path: Path, require_labels: bool = True) -> Entry:
    where = f"{path}, entry {index}"
    if not isinstance(raw, dict):
        raise DatasetError(f"{where}: an entry must be a mapping, got {type(raw).__name__}")
    _check_keys(raw, ENTRY_KEYS, where)
    e_type = str(raw.get("e_type", "")).lower()
    if e_type not in ENTRY_TYPES:
        raise DatasetError(f"{where}: unknown entry type {raw.get('e_type')!r}; known: {', '.join(ENTRY_TYPES)}")
    raw_systems = raw.get("systems")
    if not isinstance(raw_systems, list) or not raw_systems:
        raise DatasetError(f"{where}: 'systems' must be a non-empty list")
    systems = [_parse_system(sys_raw, f"{where}, system {j}") for j, sys_raw in enumerate(raw_systems)]
    if e_type in ("ae", "ie") and len(systems) < 2:
        raise DatasetError(f"{where}: an {e_type} entry needs at least two systems")
    if e_type == "force" and len(systems) != 1:
        raise DatasetError(f"{where}: a force entry has exactly one system, got {len(systems)}")
    true_val = raw.get("true_val", 0.0 if e_type == "force" else None)
    if true_val is None and require_labels:
        raise DatasetError(
            f"{where}: missing 'true_val'; an entry without a label can be evaluated (as DeepChem's prediction "
            "sets are) but not trained on"
        )
    if true_val is None:
        pass
    elif e_type == "force":
        true_val = _force_label(true_val, systems[0], where, path)
    elif e_type in ("dm", "dens"):
        true_val = _load_array(true_val, where, path)
    else:
        try:
            true_val = float(true_val)
        except (TypeError, ValueError) as err:
            raise DatasetError(f"{where}: true_val {true_val!r} is not a number") from err
        if not math.isfinite(true_val):
            raise DatasetError(f"{where}: true_val {true_val!r} is not finite")
    try:
        weight = float(raw.get("weight", 1.0))
    except (TypeError, ValueError) as err:
        raise DatasetError(f"{where}: weight {raw.get('weight')!r} is not a number") from err
    if not (math.isfinite(weight) and weight >= 0):
        raise DatasetError(f"{where}: weight must be a finite number >= 0, got {weight!r}")
    return Entry(e_type, true_val, tuple(systems), weight, str(raw.get("name", f"{e_type}-{index}")))


def _load_array(true_val, where: str, path: Path) -> np.ndarray:
    """A ``.npy`` label: next to the YAML file first, then in the working directory (DeepChem's way)."""
    npy = Path(str(true_val)).expanduser()
    candidates = [npy] if npy.is_absolute() else [path.parent / npy, Path.cwd() / npy]
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        places = " or ".join(str(c) for c in candidates)
        raise DatasetError(f"{where}: cannot read label array {npy}: no such file ({places})")
    try:
        array = np.load(found, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise DatasetError(f"{where}: cannot read label array {found}: {err}") from err
    if not isinstance(array, np.ndarray) or not np.issubdtype(array.dtype, np.number):
        raise DatasetError(f"{where}: label array {found} does not hold numbers")
    if not np.isfinite(array).all():
        raise DatasetError(f"{where}: label array {found} holds non-finite values")
    return array


def _force_label(true_val, spec: SystemSpec, where: str, path: Path) -> float | np.ndarray:
    """``0.0`` (equilibrium) or the ``(natom, 3)`` forces in Hartree/Bohr."""
    if isinstance(true_val, str):
        try:
            true_val = float(true_val)
        except ValueError:
            true_val = _load_array(true_val, where, path)
    if isinstance(true_val, (int, float)):
        if true_val != 0:
            raise DatasetError(f"{where}: a scalar force label must be 0 (an equilibrium geometry), got {true_val}")
        return 0.0
    try:
        forces = np.asarray(true_val, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise DatasetError(f"{where}: force label is not an array of numbers: {err}") from err
    natom = len(spec.to_system().numbers)
    if forces.shape != (natom, 3):
        raise DatasetError(f"{where}: force label has shape {forces.shape}, want ({natom}, 3) for {spec.moldesc!r}")
    return forces


def read_yaml(path, error: type[ValueError]):
    """Parse a YAML file, turning I/O and syntax failures into ``error`` naming the file."""
    try:
        return yaml.safe_load(Path(path).read_text())
    except OSError as err:
        raise error(f"{path}: cannot read: {err}") from err
    except yaml.YAMLError as err:
        raise error(f"{path}: malformed YAML: {err}") from err


def load_dataset(path, require_labels: bool = True) -> list[Entry]:
    """Read a DeepChem-format YAML dataset.

    With ``require_labels=False`` entries without ``true_val`` load with ``true_val=None``
    (for evaluation; DeepChem's own prediction sets have none).

    Raises
    ------
    DatasetError
        For malformed YAML or entries, naming the file and the entry index.

    """
    path = Path(path)
    raw = read_yaml(path, DatasetError)
    if not isinstance(raw, list):
        raise DatasetError(f"{path}: a dataset is a YAML list of entries, got {type(raw).__name__}")
    return [_parse_entry(item, i, path, require_labels) for i, item in enumerate(raw)]


def save_dataset(entries: list[Entry], path, arrays_dir=None) -> None:
    """Write entries as DeepChem-format YAML (arrays next to it as ``.npy``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for i, entry in enumerate(entries):
        item = {"name": entry.name, "e_type": entry.e_type, "systems": [s.to_dict() for s in entry.systems]}
        if isinstance(entry.true_val, np.ndarray):
            folder = Path(arrays_dir) if arrays_dir else path.parent
            folder.mkdir(parents=True, exist_ok=True)
            npy = folder / f"{path.stem}_{i}_{entry.e_type}.npy"
            np.save(npy, entry.true_val)
            item["true_val"] = str(npy.relative_to(path.parent) if npy.is_relative_to(path.parent) else npy)
        elif entry.true_val is not None:
            item["true_val"] = repr(float(entry.true_val))
        if entry.weight != 1.0:
            item["weight"] = entry.weight
        out.append(item)
    path.write_text(yaml.safe_dump(out, sort_keys=False))

"""One species, one method: its SCF energy with fallbacks, as a record for the energy cache.

ase_nnxc's driver already hands a stalled DIIS to direct minimisation and then to damped,
level-shifted DIIS (:func:`ase_nnxc.scf.run_scf`). When all of that fails, :data:`ATTEMPTS`
start again with other settings; only an SCF that does not converge is retried (an unsupported
element or a bad basis fails at once). PySCF runs as before in the G2 benchmark: DIIS, then
its second-order solver.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ase_nnxc.benchmarks.reactions import Species


@dataclass(frozen=True)
class Attempt:
    """One way of running the SCF of a species."""

    label: str
    """Name recorded with the energy (``"default"`` for the first attempt)."""
    options: dict = field(default_factory=dict)
    """:class:`~ase_nnxc.scf.SCFConfig` fields that differ from the first attempt."""
    unrestricted: bool = False
    """Run a closed shell unrestricted (skipped for open shells, which always are)."""


#: Tried in order until one converges (``ase_nnxc`` engine).
ATTEMPTS: tuple[Attempt, ...] = (
    Attempt("default"),
    Attempt("atom guess", {"init_guess": "atom"}),
    Attempt(
        "damped", {"init_guess": "huckel", "damping": 0.5, "level_shift": 0.5, "diis_start_cycle": 6, "max_cycle": 300}
    ),
    Attempt("unrestricted", unrestricted=True),
    Attempt("non-aufbau", {"require_aufbau": False}),
)
#: Cycles of the first attempt (before the driver's own fallbacks).
MAX_CYCLE = 200


def to_system(species: Species, basis: str):
    """The :class:`~ase_nnxc.system.MolecularSystem` of ``species`` in ``basis``."""
    from ase_nnxc.system import MolecularSystem

    return MolecularSystem(species.numbers, species.positions, basis, species.charge, species.spin)


def run_species(method, species: Species, require_aufbau: bool = True) -> dict:
    """Record of ``species`` with ``method`` (a :class:`~ase_nnxc.benchmarks.runner.Method`).

    Keys: ``energy`` (SCF energy, Hartree, or ``None``), ``error`` (why not, one line),
    ``seconds``, ``cycles`` (all attempts), ``nao``, ``attempt`` (the one that converged) and
    ``attempts`` (their number).
    """
    start = time.perf_counter()
    record = {"energy": None, "error": None, "cycles": 0, "nao": None, "attempt": None, "attempts": 0}
    if species.nelectron == 0:  # a bare proton
        record.update(energy=0.0, attempt="no electrons", nao=0)
    else:
        try:
            if method.engine == "pyscf":
                _pyscf(method, species, record)
            else:
                _nnxc(method, species, record, require_aufbau)
        except Exception as err:  # recorded and reported; the run goes on with the next species
            record["error"] = " ".join(f"{type(err).__name__}: {err}".split())
    record["seconds"] = round(time.perf_counter() - start, 2)
    return record


def _nnxc(method, species: Species, record: dict, require_aufbau: bool) -> None:
    from ase_nnxc.scf import KohnSham, SCFConfig, run_scf
    from ase_nnxc.scf.driver import SCFNotConverged

    system = to_system(species, method.resolved_basis())
    base = {
        "grid_level": method.grid_level, "density_fit": method.density_fit, "auxbasis": method.auxbasis,
        "max_cycle": MAX_CYCLE, "require_aufbau": require_aufbau,
    }  # fmt: skip
    failures, built = [], {}
    for attempt in ATTEMPTS:
        if attempt.unrestricted and species.spin != 0:
            continue
        if attempt.options.get("require_aufbau") is False and not require_aufbau:
            continue
        config = SCFConfig(**{**base, **attempt.options})
        if attempt.unrestricted not in built:
            restricted = False if attempt.unrestricted else None
            built[attempt.unrestricted] = KohnSham(system, method.functional(), config, restricted=restricted)
        ks = built[attempt.unrestricted]
        # Integrals, grid and AO values depend only on what every attempt shares (grid, fitting,
        # memory); the attempts differ in SCF settings alone, which run_scf reads from ks.config.
        ks.config = config
        record["nao"] = ks.nao
        record["attempts"] += 1
        try:
            result = run_scf(ks)
        except SCFNotConverged as err:
            record["cycles"] += _cycles_of(err)
            failures.append(f"{attempt.label}: {err}")
            continue
        record.update(energy=float(result.energy), cycles=record["cycles"] + result.cycles, attempt=attempt.label)
        return
    raise SCFNotConverged(
        f"no attempt converged ({', '.join(a.split(':')[0] for a in failures)}); last: {failures[-1].split(': ', 1)[1]}",
        float("nan"),
        float("nan"),
    )


def _cycles_of(err) -> int:
    # "... after N cycles: ..." is how the driver reports; 0 if it cannot be read.
    words = str(err).split(" cycles")[0].split()
    return int(words[-1]) if words and words[-1].isdigit() else 0


def _pyscf(method, species: Species, record: dict) -> None:
    from pyscf import dft

    mol = to_system(species, method.resolved_basis()).to_mole()
    mf = dft.RKS(mol) if mol.spin == 0 else dft.UKS(mol)
    mf.xc = method.xc
    mf.grids.level = method.grid_level
    mf.conv_tol = 1e-9
    mf.max_cycle = MAX_CYCLE
    mf.verbose = 0
    if method.density_fit:
        mf = mf.density_fit(auxbasis=method.auxbasis)
    record.update(nao=mol.nao_nr(), attempts=1)
    energy = mf.kernel()
    record["cycles"] = int(getattr(mf, "cycles", 0) or 0)
    attempt = "default"
    if not mf.converged:  # second-order solver from where DIIS stopped
        mf = mf.newton()
        energy = mf.kernel(mf.make_rdm1())
        record["attempts"] = 2
        attempt = "newton"
        if not mf.converged:
            raise RuntimeError(f"PySCF {method.xc} SCF did not converge (DIIS, then Newton)")
    record.update(energy=float(energy), attempt=attempt)

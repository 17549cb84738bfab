"""The self-consistent field loop: DIIS first; direct minimisation, then damping and level shift, as fallbacks."""

from __future__ import annotations

import math

import numpy as np
import torch
from threadpoolctl import ThreadpoolController

from ase_nnxc.scf.diis import DIIS
from ase_nnxc.scf.failures import NonFiniteEnergy, SCFNotConverged, not_converged  # noqa: F401 (re-exported)
from ase_nnxc.scf.kohn_sham import KohnSham
from ase_nnxc.scf.minimise import minimise
from ase_nnxc.scf.result import SCFResult  # noqa: F401 (re-exported)

#: Overlap eigenvalues below this are dropped (canonical orthogonalisation).
LINEAR_DEPENDENCE = 1e-8
#: Largest energy (Hartree) by which an empty orbital may lie below a filled one at convergence
#: (degenerate orbitals can mix arbitrarily, so exact ordering cannot be asked for).
AUFBAU_TOL = 1e-4
#: Largest spin contamination, <S^2> - S_z (S_z + 1), of a solution treated as spin-symmetric
#: (the density matrices themselves may differ by 1e-3 along flat directions of diffuse bases).
SYMMETRIC_CONTAMINATION = 1e-3
#: Frontier-orbital mixing angle (radians) and energy drop (Hartree) that show a symmetric
#: solution of a ``break_symmetry`` run to be a saddle point.
SADDLE_PROBE_ANGLE = 0.1
SADDLE_PROBE_DROP = 1e-9
#: DIIS cycles without a new smallest commutator after which the direct minimisation takes over.
STALL_CYCLES = 20


#: NumPy's BLAS/LAPACK thread pools, limited to one thread around each small eigensolve.
_BLAS = ThreadpoolController()


def _eigh(matrix: torch.Tensor):
    # LAPACK through NumPy: torch's threaded eigh is far slower for these small matrices, and
    # so is a threaded LAPACK when the cores are busy (a few hundred rows are too few to share).
    with _BLAS.limit(limits=1, user_api="blas"):
        values, vectors = np.linalg.eigh(matrix.detach().numpy())
    return torch.from_numpy(values), torch.from_numpy(vectors)


def _orthogonaliser(overlap: torch.Tensor) -> torch.Tensor:
    values, vectors = _eigh(overlap)
    keep = values > LINEAR_DEPENDENCE
    return vectors[:, keep] / values[keep].sqrt()


def _occupations(ks: KohnSham, nmo: int) -> torch.Tensor:
    occ = torch.zeros(ks.nspin, nmo, dtype=torch.float64)
    nalpha, nbeta = ks.system.nalpha_nbeta
    if ks.restricted:
        occ[0, :nalpha] = 2.0
    else:
        occ[0, :nalpha] = 1.0
        occ[1, :nbeta] = 1.0
    return occ


def _diagonalise(fock: torch.Tensor, x: torch.Tensor):
    energies, vectors = _eigh(x.T @ fock @ x)
    return energies, x @ vectors


class _Solver:
    def __init__(self, ks: KohnSham, verbose: bool):
        self.ks = ks
        self.overlap = ks.overlap.detach()
        self.x = _orthogonaliser(self.overlap)
        self.occ = _occupations(ks, self.x.shape[1])
        self.verbose = verbose
        self.cycles = 0
        self.budget = ks.config.cycle_budget
        #: Largest aufbau violation (Hartree) of a cycle that met both thresholds, else ``None``.
        self.aufbau_rejected: float | None = None
        self.history: list[float] = []
        #: (commutator norm, density, Fock matrix) of the most nearly converged cycle so far.
        self.best: tuple[float, torch.Tensor | None, torch.Tensor | None] = (math.inf, None, None)

    def density_from(self, mo_coeff: torch.Tensor, occ: torch.Tensor | None = None) -> torch.Tensor:
        occ = self.occ if occ is None else occ
        return torch.einsum("smi,si,sni->smn", mo_coeff, occ, mo_coeff)

    def broken_symmetry_guess(self, density: torch.Tensor) -> torch.Tensor:
        """Spin densities ``(2, nao, nao)`` with the frontier orbitals of ``density`` mixed.

        The orbitals are those of the Kohn-Sham Fock matrix of ``density``'s spin average. For
        each spin the highest filled orbital ``h`` and the lowest empty one ``u`` become
        ``(h + u) / sqrt 2`` (alpha) and ``(h - u) / sqrt 2`` (beta): for a stretched bond, one
        spin on each end (:attr:`SCFConfig.break_symmetry`).
        """
        average = 0.5 * density.sum(0)
        fock = self.ks.fock(torch.stack([average, average]))[0][0]
        _, coeff = _diagonalise(fock, self.x)
        return self.density_from(_mix_frontier(coeff, self.ks.system.nalpha_nbeta, math.pi / 4))

    @property
    def per_orbital(self) -> float:
        """Electrons per filled orbital: 2 restricted, 1 unrestricted."""
        return 2.0 if self.ks.restricted else 1.0

    def filled(self, density: torch.Tensor, coeff: torch.Tensor) -> torch.Tensor:
        """Which orbitals ``coeff`` (``(nao, nmo)``) the one-spin ``density`` fills (boolean, ``(nmo,)``)."""
        sc = self.overlap @ coeff
        return torch.einsum("mk,mn,nk->k", sc, density, sc) / self.per_orbital > 0.5

    def occupations_of(self, density: torch.Tensor, coeff: torch.Tensor) -> torch.Tensor:
        """Occupations of the orbitals ``coeff`` (``(nspin, nao, nmo)``) that ``density`` fills.

        The aufbau occupations unless ``density`` fills a different set of the same size (a
        non-aufbau stationary state, accepted with ``require_aufbau=False``).
        """
        occ = self.occ.clone()
        for spin, (d, c) in enumerate(zip(density, coeff)):
            filled, aufbau = self.filled(d, c), self.occ[spin] > 0
            if int(filled.sum()) == int(aufbau.sum()) and not torch.equal(filled, aufbau):
                occ[spin] = filled.to(occ.dtype) * self.per_orbital
        return occ

    def aufbau_violation(self, fock: torch.Tensor, density: torch.Tensor) -> float:
        """How far (Hartree) the highest filled orbital of ``density`` lies above the lowest empty one."""
        worst = -math.inf
        for f, d in zip(fock, density):
            energies, coeff = _diagonalise(f, self.x)
            filled = self.filled(d, coeff)
            if filled.any() and (~filled).any():
                worst = max(worst, float(energies[filled].max() - energies[~filled].min()))
        return worst

    def remaining(self, max_cycle: int) -> int:
        """Fock builds the next attempt may use: ``max_cycle``, within what is left of the budget."""
        return max(0, min(max_cycle, self.budget - self.cycles))

    def accept(self, fock, density) -> bool:
        """Whether a density that meets both thresholds is accepted (the aufbau check)."""
        if not self.ks.config.require_aufbau:
            return True
        violation = self.aufbau_violation(fock, density)
        if violation < AUFBAU_TOL:
            return True
        self.aufbau_rejected = violation
        return False

    def step(self, density):
        """One Fock build: Fock matrix, energy, terms and commutator; records history and best cycle."""
        fock, energy, terms = self.ks.fock(density)
        self.cycles += 1
        if not (math.isfinite(float(energy)) and bool(torch.isfinite(fock).all())):
            raise NonFiniteEnergy(
                f"SCF of {''.join(self.ks.system.symbols)} with {self.ks.functional.name}: the "
                f"{'energy' if not math.isfinite(float(energy)) else 'Fock matrix'} became non-finite "
                f"(NaN or inf) at cycle {self.cycles}; the functional is not defined for this density.",
                math.nan,
                math.nan,
                reason="non-finite",
            )
        fds = fock @ density @ self.overlap
        error = self.x.T @ (fds - fds.transpose(-1, -2)) @ self.x
        self.history.append(float(energy))
        if float(error.norm()) < self.best[0]:
            self.best = (float(error.norm()), density, fock)
        return fock, float(energy), terms, error

    def solve(self, density, max_cycle, tol, tol_grad, diis_space, diis_start, damping, level_shift, patience=None):
        """DIIS iterations; gives up after ``patience`` cycles without a new smallest error."""
        diis = DIIS(diis_space) if diis_space > 0 else None
        last_energy = energy = math.inf
        de = err_norm = math.inf
        fock = terms = None
        since_best = 0
        for cycle in range(max_cycle):
            fock, energy, terms, error = self.step(density)
            err_norm = float(error.norm())
            since_best = 0 if self.best[1] is density else since_best + 1
            if patience is not None and since_best > patience:
                break
            de = energy - last_energy
            if self.verbose:
                print(f"  cycle {self.cycles:3d}  E = {energy:.10f}  dE = {de:+.3e}  |[F,D]| = {err_norm:.3e}")
            # A density can commute with its Fock matrix without filling its lowest orbitals
            # (a non-aufbau state); accept it only if no empty orbital lies below a filled one.
            if abs(de) < tol and err_norm < tol_grad and self.accept(fock, density):
                return True, density, fock, energy, terms, de, err_norm
            last_energy = energy
            if diis is not None and cycle >= diis_start:
                fock = diis.update(fock, error)
            if level_shift > 0:
                # Raise virtual levels: F + shift * (S - S D S / n_occ_per_orbital).
                sds = self.overlap @ density @ self.overlap / self.per_orbital
                fock = fock + level_shift * (self.overlap - sds)
            mo_energy, mo_coeff = zip(*(_diagonalise(f, self.x) for f in fock))
            new_density = self.density_from(torch.stack(mo_coeff))
            density = (1 - damping) * new_density + damping * density if damping > 0 else new_density
        return False, density, fock, energy, terms, de, err_norm

    def minimise(self, max_cycle, tol, tol_grad, orbitals=None):
        """Direct minimisation (see :mod:`.minimise`) from ``orbitals``.

        By default it starts from the aufbau orbitals of the best cycle so far.
        """
        if orbitals is None:
            orbitals = torch.stack([_diagonalise(f, self.x)[1] for f in self.best[2]])

        def evaluate(coeff):
            density = self.density_from(coeff)
            return (density, *self.step(density))

        def report(energy, de, err_norm):
            if self.verbose:
                print(
                    f"  cycle {self.cycles:3d}  E = {energy:.10f}  dE = {de:+.3e}  |[F,D]| = {err_norm:.3e}  (minimisation)"
                )

        converged, density, (fock, energy, terms), de, err_norm = minimise(
            evaluate, orbitals, self.occ, lambda de, err: abs(de) < tol and err < tol_grad, max_cycle, report
        )
        if converged and not self.accept(fock, density):
            converged = False
        return converged, density, fock, energy, terms, de, err_norm

    def finish(self, fock, energy, terms, density) -> SCFResult:
        # Orbitals, density and W all come from the final Fock matrix, so that the force
        # Lagrangian sees one consistent set; the energy is that of the density that built it.
        # A non-aufbau state keeps the orbitals it fills, so that density and energy match.
        mo = [_diagonalise(f, self.x) for f in fock]
        mo_coeff = torch.stack([m[1] for m in mo])
        occ = self.occupations_of(density, mo_coeff)
        return SCFResult(
            energy=energy,
            terms=terms,
            density=self.density_from(mo_coeff, occ),
            mo_energy=torch.stack([m[0] for m in mo]),
            mo_coeff=mo_coeff,
            mo_occ=occ,
            cycles=self.cycles,
            energy_history=tuple(self.history),
        )


def project_orbitals(ks: KohnSham, previous: SCFResult) -> torch.Tensor:
    """Density of ``previous``'s occupied orbitals re-orthonormalised in the overlap of ``ks``.

    After a small change of geometry the basis functions have moved, so the old density
    matrix is no longer idempotent in the new metric; Loewdin-orthonormalising the occupied
    orbitals first makes a much better warm start (``(nspin, nao, nao)``).
    """
    overlap = ks.overlap.detach()
    mats = []
    for spin in range(ks.nspin):
        occupied = previous.mo_occ[spin] > 0
        coeff = previous.mo_coeff[spin][:, occupied]
        values, vectors = _eigh(coeff.T @ overlap @ coeff)
        coeff = coeff @ (vectors / values.sqrt()) @ vectors.T
        mats.append((coeff * previous.mo_occ[spin][occupied]) @ coeff.T)
    return torch.stack(mats)


def _mix_frontier(coeff: torch.Tensor, counts, angle: float) -> torch.Tensor:
    """Alpha and beta orbitals ``(2, nao, nmo)`` from one set ``(nao, nmo)``, frontier pair rotated.

    Each spin's highest filled orbital ``h`` and lowest empty one ``u`` become
    ``cos(angle) h +- sin(angle) u`` (+ for alpha, - for beta), and ``u`` the orthogonal partner.
    """
    spins = []
    for sign, count in zip((1.0, -1.0), counts):
        mixed = coeff.clone()
        if 0 < count < coeff.shape[1]:
            h, u = coeff[:, count - 1], coeff[:, count]
            mixed[:, count - 1] = math.cos(angle) * h + sign * math.sin(angle) * u
            mixed[:, count] = math.cos(angle) * u - sign * math.sin(angle) * h
        spins.append(mixed)
    return torch.stack(spins)


def _leave_symmetric_saddle(solver: _Solver, result: SCFResult, tolerances) -> SCFResult:
    """A lower broken-symmetry solution, if a spin-symmetric ``result`` is a saddle point.

    DIIS can converge to the symmetric solution even where it is unstable (just beyond the
    Coulson-Fischer point). Mixing its frontier orbitals by a small angle lowers the energy
    exactly then; the direct minimisation, which only goes downhill, continues from there.
    """
    ks = solver.ks
    nalpha, nbeta = ks.system.nalpha_nbeta
    sz = 0.5 * (nalpha - nbeta)
    if result.spin_square(solver.overlap) - sz * (sz + 1) > SYMMETRIC_CONTAMINATION:
        return result
    probe = _mix_frontier(result.mo_coeff[0], ks.system.nalpha_nbeta, SADDLE_PROBE_ANGLE)
    energy = float(ks.energy(solver.density_from(probe))[0])
    if energy > result.energy - SADDLE_PROBE_DROP:
        return result
    converged, density, fock, energy, terms, _, _ = solver.minimise(*tolerances, orbitals=probe)
    return solver.finish(fock, energy, terms, density) if converged and energy < result.energy else result


def run_scf(ks: KohnSham, guess: torch.Tensor | SCFResult | None = None) -> SCFResult:
    """Solve the Kohn-Sham equations of ``ks`` self-consistently.

    Parameters
    ----------
    ks
        The assembled Kohn-Sham problem.
    guess
        Starting density matrices ``(nspin, nao, nao)``, or a previous :class:`SCFResult` of the
        same molecule at a nearby geometry (warm start, see :func:`project_orbitals`); PySCF's
        initial guess when ``None``. A restricted guess for an unrestricted run is split in
        halves. With :attr:`SCFConfig.break_symmetry` every guess, warm starts included, is
        replaced by ``_Solver.broken_symmetry_guess`` of it, and a spin-symmetric solution is
        tested for a lower broken-symmetry one (:func:`_leave_symmetric_saddle`).

    Raises
    ------
    SCFNotConverged
        When neither the DIIS run nor the fallbacks (direct minimisation from the best cycle,
        then damped, level-shifted DIIS) converge.

    """
    config = ks.config
    if guess is None:
        density = ks.initial_guess()
    elif isinstance(guess, SCFResult) and guess.mo_coeff.shape[:2] == (ks.nspin, ks.nao):
        density = project_orbitals(ks, guess)
    else:
        if isinstance(guess, SCFResult):
            guess = guess.density
        density = torch.as_tensor(guess, dtype=torch.float64).detach()
        if density.dim() == 2:
            density = density[None]
        if density.shape[0] == 1 and ks.nspin == 2:
            density = torch.cat([0.5 * density, 0.5 * density])
        elif density.shape[0] == 2 and ks.nspin == 1:
            density = density.sum(0, keepdim=True)
        if density.shape != (ks.nspin, ks.nao, ks.nao):
            raise ValueError(f"Guess density has shape {tuple(density.shape)}, expected {(ks.nspin, ks.nao, ks.nao)}.")
    solver = _Solver(ks, config.verbose)
    if config.break_symmetry and ks.nspin == 2:
        # Warm starts too: one that is nearly symmetric tends to stay so where a broken solution
        # lies below, and the saddle test after convergence mixes in only the lowest empty orbital.
        density = solver.broken_symmetry_guess(density)
    tolerances = (config.conv_tol, config.gradient_tolerance)
    converged, density, fock, energy, terms, de, err = solver.solve(
        density,
        solver.remaining(config.max_cycle),
        *tolerances,
        config.diis_space,
        config.diis_start_cycle,
        config.damping,
        config.level_shift,
        patience=STALL_CYCLES if config.fallback else None,
    )
    if not converged and config.fallback and solver.remaining(config.max_cycle) > 0:
        # Nearly flat directions (degenerate open shells) make DIIS wander; a descent method cannot.
        converged, density, fock, energy, terms, de, err = solver.minimise(
            solver.remaining(config.max_cycle), *tolerances
        )
    if not converged and config.fallback and solver.remaining(config.max_cycle) > 0:
        converged, density, fock, energy, terms, de, err = solver.solve(
            solver.best[1],
            solver.remaining(config.max_cycle),
            *tolerances,
            config.diis_space,
            config.diis_start_cycle,
            max(config.damping, 0.3),
            max(config.level_shift, 0.25),
        )
    if converged:
        result = solver.finish(fock, energy, terms, density)
        if config.break_symmetry and ks.nspin == 2 and solver.remaining(config.max_cycle) > 1:
            result = _leave_symmetric_saddle(solver, result, (solver.remaining(config.max_cycle), *tolerances))
        return result
    raise not_converged(solver, de, err)

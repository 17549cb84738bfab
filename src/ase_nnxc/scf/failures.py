"""Why an SCF failed: the exceptions of the driver and the message that names the failed check."""

from __future__ import annotations


class SCFNotConverged(RuntimeError):
    """The SCF did not reach its thresholds; the message gives the last figures and what to try.

    ``reason`` says which check failed: ``"thresholds"`` (energy change or commutator still
    above its tolerance when the cycle budget ran out), ``"aufbau"`` (both within their
    tolerances, but an empty orbital lies below a filled one) or ``"non-finite"``.
    """

    def __init__(self, message: str, last_energy_change: float, last_error: float, reason: str = "thresholds"):
        super().__init__(message)
        self.last_energy_change = last_energy_change
        self.last_error = last_error
        self.reason = reason


class NonFiniteEnergy(SCFNotConverged):
    """The energy or the Fock matrix became NaN or infinite during the SCF."""


def not_converged(solver, de: float, err: float) -> SCFNotConverged:
    """The error of a failed SCF: which check failed, the last figures and what to try.

    ``solver`` is the driver's ``_Solver`` after its last attempt (its Kohn-Sham problem, cycles
    used, budget and the aufbau violation of a rejected state); ``de`` and ``err`` are the last
    energy change (Hartree) and commutator norm.
    """
    ks, config = solver.ks, solver.ks.config
    system = ks.system
    what = (
        f"SCF did not converge for {''.join(system.symbols)} (charge {system.charge}, spin {system.spin}) with "
        f"{ks.functional.name} after {solver.cycles} cycles"
    )
    figures = (
        f"last energy change {de:.3e} Ha (tolerance {config.conv_tol:.1e}), "
        f"last commutator norm {err:.3e} (tolerance {config.gradient_tolerance:.1e})"
    )
    if solver.aufbau_rejected is not None:
        return SCFNotConverged(
            f"{what}: a state met the energy and commutator tolerances but failed the aufbau check (an empty "
            f"orbital lay {solver.aufbau_rejected:.2e} Ha below a filled one), so no integer-occupation ground "
            f"state was found at this charge and spin; {figures}. Try another spin (N_alpha - N_beta), "
            "break_symmetry=True, or, to accept a stationary non-aufbau state, SCFConfig(require_aufbau=False).",
            de,
            err,
            reason="aufbau",
        )
    if solver.cycles >= solver.budget:
        limit = f"the cycle budget (max_total_cycles={solver.budget}) ran out"
    elif not config.fallback:
        limit = f"DIIS used its max_cycle={config.max_cycle} and the fallbacks are off (fallback=False)"
    else:
        limit = f"every attempt used its max_cycle={config.max_cycle}"
    return SCFNotConverged(
        f"{what}: {limit}; {figures}. Try a larger max_cycle, damping or level_shift, or another init_guess.",
        de,
        err,
    )

"""The ASE calculator: the one place where eV and Angstrom appear.

>>> from ase.build import molecule
>>> from ase_nnxc import NNXC
>>> atoms = molecule("H2O")
>>> atoms.calc = NNXC(xc="pbe", basis="def2-svp")
>>> atoms.get_potential_energy()  # eV                              # doctest: +SKIP
"""

from __future__ import annotations

import numbers
from dataclasses import replace

import numpy as np
from ase.calculators.calculator import (
    CalculationFailed,
    Calculator,
    CalculatorSetupError,
    InputError,
    SCFError,
    all_changes,
)

from ase_nnxc.plugins.manager import PluginError
from ase_nnxc.units import BOHR_TO_ANGSTROM, HARTREE_TO_EV

#: Commutator threshold of the SCF whenever forces are asked for. The force error grows
#: linearly with the density error: for HCOOH (LDA, def2-SVP) it is 1.2e-5 Ha/Bohr at the
#: default sqrt(conv_tol) = 3.2e-5 and 2e-8 Ha/Bohr at 1e-7.
FORCES_COMMUTATOR_TOL = 1e-7


class NNXC(Calculator):
    """Kohn-Sham DFT with libxc, neural or plugin functionals, for ASE.

    Parameters
    ----------
    xc : str or XCFunctional, default ``"pbe"``
        A libxc name (``"lda,vwn"``, ``"pbe"``, ``"b3lyp"``, ``"r2scan"``, ...), a name
        registered by a plugin or the package, a path to a trained checkpoint (``.pt``),
        or an :class:`~ase_nnxc.xc.base.XCFunctional` instance.
    basis : str or None, default ``None``
        Any basis set PySCF knows; ``None`` uses the basis a trained checkpoint was fitted
        in, and def2-SVP otherwise. The basis set's own effective core potentials come
        with it (def2 for Rb-Rn); ``charge`` and ``spin`` count all electrons as usual.
    charge : int or None, default ``None``
        Net charge; ``None`` takes the sum of ``atoms.get_initial_charges()``.
    spin : int or None, default ``None``
        ``N_alpha - N_beta``; ``None`` takes the sum of the initial magnetic moments.
        Closed shells run restricted (RKS), open shells unrestricted (UKS), unless
        ``restricted`` or ``break_symmetry`` says otherwise.
    restricted : bool or None, default ``None``
        ``None``: RKS for closed shells (UKS with ``break_symmetry``), UKS for open shells.
        ``False`` runs a closed shell unrestricted; ``True`` with an open shell is an error.
    break_symmetry : bool, default False
        Start the (unrestricted) SCF from a guess with each spin's frontier orbitals mixed, so
        that a closed shell can reach a lower broken-symmetry solution: stretched bonds beyond
        the Coulson-Fischer point, where the restricted energy rises far above the
        dissociation limit. Where no such solution exists (bonds near equilibrium) the SCF
        returns to the restricted energy; a symmetric solution is also tested and left downhill
        where it is a saddle point. Warm starts are mixed too, so they save fewer cycles.
    grid_level : int or None, default ``None``
        PySCF integration grid level, 0-9; ``None`` uses the level a trained checkpoint was
        fitted on, and 3 otherwise.
    conv_tol : float, default 1e-9
        SCF energy convergence threshold in Hartree, at most 1e-4. When forces are asked for,
        the commutator is converged to 1e-7 as well (``FORCES_COMMUTATOR_TOL``), so that forces
        are good to about 1e-7 Ha/Bohr (5e-6 eV/Angstrom) against a fully converged gradient.
    max_cycle : int, default 100
        SCF cycles per attempt; the whole SCF, fallbacks included, makes at most
        ``2 * max_cycle`` Fock builds.
    density_fit : bool, default False
        Fit the Coulomb and exact-exchange integrals in an auxiliary basis (as PySCF's
        ``mf.density_fit()``): much cheaper two-electron work for larger molecules, at a small
        fitting error in the total energy (1e-5 to 2e-4 Hartree for water and ethanol in def2
        bases with the default auxiliary sets). Forces are the analytic gradient of the fitted
        energy.
    auxbasis : str or None, default ``None``
        Auxiliary basis for ``density_fit`` (``"def2-universal-jkfit"``, ``"weigend"``, ...);
        ``None`` takes PySCF's default for the basis and functional. Only valid with
        ``density_fit=True``.
    damping : float, default 0.0
        Density damping of the first SCF attempt.
    level_shift : float, default 0.0
        Level shift (Hartree) of the first SCF attempt.
    fallback : bool, default True
        Retry a failed SCF with damping and level shift before giving up.
    init_guess : str, default ``"minao"``
        PySCF initial guess used when there is no previous density.
    dispersion : None, ``"d4"``, dict or D4Parameters, default ``None``
        Add the DFT-D4 dispersion energy and forces (``dftd4``) to the Kohn-Sham ones, after
        the SCF (it never enters the Kohn-Sham matrix). ``"d4"`` takes the functional's own
        parameters (:func:`~ase_nnxc.dispersion.d4_parameters`): dftd4's table for libxc
        functionals, those stored with a trained functional's weights or, when it has none,
        its base functional's (the shipped ``nnxc`` takes r2SCAN's). A dict gives them
        explicitly: ``{"s8": ..., "a1": ..., "a2": ...}``, optionally ``s6``, ``s9``, ``alp``
        (defaults 1, 1, 16). ``None`` or ``"none"``: no dispersion.
    verbose : bool, default False
        Print one line per SCF cycle.
    atoms : ase.Atoms, optional
        Atoms to attach the calculator to (ASE's usual keyword).
    label, directory : str, optional
        Accepted for compatibility with ASE; nothing is written to disk.

    Attributes
    ----------
    results : dict
        ``energy`` and ``free_energy`` (eV; equal, as there is no smearing), ``forces``
        (eV/Angstrom, ``(natom, 3)``) and ``dipole`` (e*Angstrom about the origin, ``(3,)``).
        With ``dispersion`` the energy and forces include D4.
    dispersion_parameters : D4Parameters or None
        The D4 parameters in use (``as_dict()`` says whose and where from), ``None`` without.
    dispersion_energy : float or None
        The D4 part of ``results["energy"]`` in eV, ``None`` without dispersion or results.
    scf_cycles : int
        Fock builds of the SCF behind the current results (fewer after a warm start).

    Raises
    ------
    ase.calculators.calculator.InputError
        Unknown keyword, a bad parameter value (raised as soon as it is given), or atoms the
        settings cannot describe (element missing from the basis, spin inconsistent with the
        electron count, overlapping nuclei, no atoms). The message names the bad value.
    ase.calculators.calculator.CalculatorSetupError
        Periodic atoms.
    ase.calculators.calculator.SCFError
        The SCF did not converge, fallbacks included; the message gives the last energy change
        and commutator norm.
    ase.calculators.calculator.CalculationFailed
        Any other numerical failure.

    Notes
    -----
    When only the positions change, the previous orbitals are the next SCF guess (warm start);
    any other change of the atoms or of a parameter starts from ``init_guess``. Asking for
    forces after the energy of the same geometry reuses the converged density.

    """

    implemented_properties = ["energy", "free_energy", "forces", "dipole"]
    default_parameters = {
        "xc": "pbe",
        "basis": None,
        "charge": None,
        "spin": None,
        "restricted": None,
        "break_symmetry": False,
        "grid_level": None,
        "conv_tol": 1e-9,
        "max_cycle": 100,
        "density_fit": False,
        "auxbasis": None,
        "damping": 0.0,
        "level_shift": 0.0,
        "fallback": True,
        "init_guess": "minao",
        "dispersion": None,
        "verbose": False,
    }

    def __init__(self, **kwargs):
        unknown = sorted(set(kwargs) - set(self.default_parameters) - {"label", "atoms", "directory"})
        if unknown:
            raise InputError(
                f"Unknown NNXC parameter(s): {', '.join(unknown)}. Known: {', '.join(self.default_parameters)}."
            )
        self._functional = None
        self._ks = None
        self._scf = None
        self._forces_converged = False
        self.scf_cycles = 0
        self.dispersion_parameters = None
        self._dispersion_energy = None
        super().__init__(**kwargs)
        self._check_parameters()

    def set(self, **kwargs):
        from ase_nnxc.dispersion import D4Parameters

        unknown = sorted(set(kwargs) - set(self.default_parameters))
        if unknown:
            raise InputError(f"Unknown NNXC parameter(s): {', '.join(unknown)}.")
        if isinstance(kwargs.get("dispersion"), D4Parameters):
            kwargs["dispersion"] = kwargs["dispersion"].as_dict()  # parameters stay JSON (trajectories)
        changed = super().set(**kwargs)
        if changed:
            # ASE's base class keeps results after set(); a new parameter must not return
            # the old numbers, nor warm-start from a density of another functional or basis.
            self.reset()
            self._functional = self._ks = self._scf = None
            self.dispersion_parameters = None
            self._forces_converged = False
            self._check_parameters()
        return changed

    def __repr__(self) -> str:
        """``NNXC(xc=..., basis=..., grid_level=...)`` with the basis and grid in use and every other non-default parameter."""
        p = self.parameters
        shown = {"xc": p.xc if isinstance(p.xc, str) else type(p.xc).__name__, "basis": self.basis,
                 "grid_level": self.grid_level}
        shown.update({k: v for k, v in p.items() if k not in shown and v != self.default_parameters[k]})
        return "NNXC(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"

    @property
    def basis(self) -> str:
        """The basis in use: the ``basis`` parameter, else the trained functional's own, else def2-SVP."""
        if self.parameters.basis:
            return self.parameters.basis
        return getattr(self._functional, "default_basis", None) or "def2-svp"

    @property
    def grid_level(self) -> int:
        """The grid level in use: the ``grid_level`` parameter, else the trained functional's own, else 3."""
        if self.parameters.grid_level is not None:
            return self.parameters.grid_level
        level = getattr(self._functional, "grid_level", None)
        return 3 if level is None else level

    def _scf_config(self, forces: bool = False):
        from ase_nnxc.scf import SCFConfig

        p = self.parameters
        config = SCFConfig(
            conv_tol=p.conv_tol,
            max_cycle=p.max_cycle,
            grid_level=self.grid_level,
            density_fit=p.density_fit,
            auxbasis=p.auxbasis,
            damping=p.damping,
            level_shift=p.level_shift,
            fallback=p.fallback,
            init_guess=p.init_guess,
            break_symmetry=p.break_symmetry,
            verbose=p.verbose,
        )
        if forces and config.gradient_tolerance > FORCES_COMMUTATOR_TOL:
            config = replace(config, conv_tol_grad=FORCES_COMMUTATOR_TOL)
        return config

    def _check_parameters(self) -> None:
        """Reject bad values when they are given rather than at the first calculation."""
        from ase_nnxc.xc import get_functional

        p = self.parameters
        try:
            for name in ("charge", "spin"):
                value = p[name]
                integral = isinstance(value, numbers.Integral) or (isinstance(value, float) and value.is_integer())
                if value is not None and (isinstance(value, bool) or not integral):
                    raise ValueError(f"{name} must be an integer or None, got {value!r} ({type(value).__name__}).")
            if p.restricted is not None and not isinstance(p.restricted, bool):
                raise ValueError(f"restricted must be True, False or None, got {p.restricted!r}.")
            if p.restricted and p.break_symmetry:
                raise ValueError("break_symmetry needs an unrestricted calculation; leave restricted at None or False.")
            self._scf_config()
            if self._functional is None:
                self._functional = get_functional(p.xc)
            self.dispersion_parameters = self._dispersion_parameters()
        except (ValueError, TypeError, KeyError, PluginError) as err:
            raise InputError(str(err)) from err

    def _dispersion_parameters(self):
        """The D4 parameters that the ``dispersion`` value asks for, or ``None``."""
        from collections.abc import Mapping

        from ase_nnxc.dispersion import d4_parameters

        value = self.parameters.dispersion
        if value is None or (isinstance(value, str) and value.lower() == "none"):
            return None
        if isinstance(value, str) and value.lower() == "d4":
            return d4_parameters(self._functional)
        if isinstance(value, Mapping):
            try:
                return d4_parameters(value)
            except ValueError as err:
                raise ValueError(f"dispersion={value!r}: {err}") from err
        raise ValueError(f"dispersion must be None, 'none', 'd4' or a dict of D4 parameters, got {value!r}.")

    def _setup(self, atoms):
        from ase_nnxc.scf import KohnSham
        from ase_nnxc.system import MolecularSystem
        from ase_nnxc.xc import get_functional

        p = self.parameters
        if np.any(atoms.pbc):
            raise CalculatorSetupError(
                f"NNXC handles finite molecules only, but the atoms are periodic (pbc={atoms.pbc.tolist()})."
            )
        try:
            if self._functional is None:
                self._functional = get_functional(p.xc)
            system = MolecularSystem.from_atoms(atoms, basis=self.basis, charge=p.charge, spin=p.spin)
            return KohnSham(system, self._functional, self._scf_config(), restricted=p.restricted)
        except (ValueError, TypeError, KeyError) as err:
            raise InputError(str(err)) from err

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        """Run the SCF (warm-started when only positions changed) and store results in eV units."""
        super().calculate(atoms, properties, system_changes)
        from ase_nnxc.scf import nuclear_gradient

        forces = "forces" in properties
        if not system_changes and self._scf is not None and self._ks is not None:
            # Same atoms, same parameters, another property (forces after the energy): the
            # converged density is still the solution, converged further if forces need it.
            ks, scf = self._ks, self._scf
            if forces and not self._forces_converged:
                scf = self._converge(ks, scf, forces)
        else:
            only_moved = self._scf is not None and set(system_changes) <= {"positions"}
            guess = self._scf if only_moved else None
            ks = self._setup(self.atoms)
            scf = self._converge(ks, guess, forces)
        dispersion_energy, dispersion_gradient = self._dispersion(ks.system)
        self._dispersion_energy = None if self.dispersion_parameters is None else dispersion_energy * HARTREE_TO_EV
        energy = (scf.energy + dispersion_energy) * HARTREE_TO_EV
        self.results["energy"] = energy
        self.results["free_energy"] = energy
        self.results["dipole"] = ks.dipole(scf.density).numpy() * BOHR_TO_ANGSTROM
        if forces:
            gradient = nuclear_gradient(ks, scf).numpy() + dispersion_gradient
            if not np.all(np.isfinite(gradient)):
                raise CalculationFailed("Non-finite nuclear gradient.")
            self.results["forces"] = -gradient * HARTREE_TO_EV / BOHR_TO_ANGSTROM

    def _converge(self, ks, guess, forces: bool):
        """Run the SCF of ``ks`` from ``guess`` (to the forces' threshold if ``forces``) and keep it."""
        from ase_nnxc.scf import SCFNotConverged, run_scf

        ks.config = self._scf_config(forces)  # only the thresholds differ: grid and integrals stay
        try:
            scf = run_scf(ks, guess)
        except SCFNotConverged as err:
            raise SCFError(str(err)) from err
        except (np.linalg.LinAlgError, RuntimeError, FloatingPointError) as err:
            raise CalculationFailed(f"Kohn-Sham calculation failed: {err}") from err
        self._ks, self._scf, self.scf_cycles, self._forces_converged = ks, scf, scf.cycles, forces
        return scf

    def _dispersion(self, system) -> tuple[float, np.ndarray | float]:
        """D4 energy (Hartree) and gradient (Hartree/Bohr, ``(natom, 3)``); zeros without dispersion."""
        if self.dispersion_parameters is None:
            return 0.0, 0.0
        from ase_nnxc.dispersion import dispersion_energy_gradient

        try:
            return dispersion_energy_gradient(
                system.numbers, system.positions, system.charge, self.dispersion_parameters
            )
        except ValueError as err:
            raise InputError(str(err)) from err

    @property
    def dispersion_energy(self):
        """The D4 part of the last energy in eV, or ``None`` (no dispersion, or no results)."""
        return self._dispersion_energy if "energy" in self.results else None

    @property
    def system(self):
        """The :class:`~ase_nnxc.system.MolecularSystem` of the last calculation, or ``None``.

        Charge and spin are the values used (resolved from the atoms when the parameters are
        ``None``); positions are in Bohr.
        """
        return None if self._ks is None else self._ks.system

    @property
    def auxbasis(self):
        """The auxiliary basis of the last density-fitted calculation, or ``None`` without fitting.

        PySCF's default is resolved: a name, or a mapping from element to name.
        """
        return None if self._ks is None else getattr(self._ks.jk, "auxbasis", None)

    @property
    def spin_square(self):
        """``<S^2>`` of the last Kohn-Sham determinant (0 for restricted), or ``None`` before any.

        For a broken-symmetry singlet it measures how far the spins have separated: 0 at the
        symmetric solution, 1 for two fully separated opposite spins.
        """
        return None if self._scf is None else self._scf.spin_square(self._ks.overlap.detach())

    @property
    def scf_result(self):
        """The last :class:`~ase_nnxc.scf.SCFResult` (atomic units; Kohn-Sham energy without dispersion), or ``None``."""
        return self._scf

"""Kohn-Sham assembly, the SCF driver and analytic gradients."""

from ase_nnxc.scf.config import SCFConfig
from ase_nnxc.scf.driver import SCFResult, run_scf
from ase_nnxc.scf.failures import NonFiniteEnergy, SCFNotConverged
from ase_nnxc.scf.gradients import nuclear_gradient
from ase_nnxc.scf.kohn_sham import EnergyTerms, KohnSham

__all__ = ["EnergyTerms", "KohnSham", "NonFiniteEnergy", "SCFConfig", "SCFNotConverged", "SCFResult", "nuclear_gradient", "run_scf"]

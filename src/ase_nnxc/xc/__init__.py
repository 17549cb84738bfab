"""Exchange-correlation functionals: feature maps, libxc functionals, neural models."""

from ase_nnxc.xc.base import XCFunctional
from ase_nnxc.xc.features import Feature, FeatureMap
from ase_nnxc.xc.libxc import LibXCFunctional
from ase_nnxc.xc.registry import get_functional

__all__ = ["Feature", "FeatureMap", "LibXCFunctional", "XCFunctional", "get_functional"]

import os
import sys

import torch

# Tests import the shared samples by module name; reference data never lives in conftest.
sys.path.insert(0, os.path.dirname(__file__))
torch.set_default_dtype(torch.float64)

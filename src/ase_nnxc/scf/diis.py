"""Pulay's DIIS on the commutator error ``F D S - S D F`` (Pulay, CPL 73, 393 (1980))."""

from __future__ import annotations

import numpy as np
import torch


class DIIS:
    """Extrapolates Fock matrices from the last ``space`` (Fock, error) pairs."""

    def __init__(self, space: int = 8):
        self.space = space
        self._focks: list[torch.Tensor] = []
        self._errors: list[torch.Tensor] = []

    def update(self, fock: torch.Tensor, error: torch.Tensor) -> torch.Tensor:
        """Store a pair and return the extrapolated Fock matrix (same shape as ``fock``)."""
        self._focks.append(fock)
        self._errors.append(error.reshape(-1))
        if len(self._focks) > self.space:
            self._focks.pop(0)
            self._errors.pop(0)
        n = len(self._focks)
        errors = torch.stack(self._errors)
        b = torch.zeros(n + 1, n + 1, dtype=fock.dtype)
        b[:n, :n] = errors @ errors.T
        b[n, :n] = b[:n, n] = -1.0
        rhs = torch.zeros(n + 1, dtype=fock.dtype)
        rhs[n] = -1.0
        # The error overlaps become nearly singular close to convergence; a least-squares
        # solve keeps the extrapolation defined. NumPy's SVD solver (gelsd) rather than
        # torch's default (MKL gelsy): gelsy returns different last bits for identical
        # input from call to call, which changes the SCF path and breaks bitwise resume.
        scale = b[:n, :n].diagonal().max().clamp(min=1e-300)
        b[:n, :n] /= scale
        solution = np.linalg.lstsq(b.numpy(), rhs.numpy(), rcond=1e-14)[0]
        coeffs = torch.from_numpy(solution[:n])
        return sum(c * f for c, f in zip(coeffs, self._focks))

"""The linear probe's settings, shared by the engine (engine/probe.py) and the exported scripts (codegen)."""

from __future__ import annotations

L2_GRID: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
"""Penalties tried by cross-validation, on centred features divided by one common scale (1e-4: nearly none; 1:
weights held small)."""
CV_FOLDS = 3
MAX_ITER = 500
TOLERANCE = 1e-5
"""An L-BFGS iteration that changes the objective (a mean over the images, about 0.01 to 2) or the weights by
less than this ends the fit: the loss has plateaued."""

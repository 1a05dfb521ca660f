"""Torch-free vocabulary every side uses: the protocol, the six groups, presets, costs, code
generation, paths and safe files, the worker client. Imports neither the UI nor the engine."""

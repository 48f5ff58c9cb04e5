"""Basal insulin titration in type 2 diabetes: the Aradóttir 2019 / Kanderian twin, Treat-to-Target guideline, metrics."""

from dosewise.therapies.insulin_t2d.pack import InsulinT2DPack

__all__ = ["InsulinT2DPack"]

"""Basal insulin titration in type 2 diabetes: the Aradóttir 2019 / Kanderian twin, Treat-to-Target guideline, metrics."""

"""Dosewise shared domain library: imported by the gateway, inference and trainer; imports none of them."""

__version__ = "0.1.0"

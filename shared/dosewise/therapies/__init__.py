"""Therapy packs: one subpackage per therapy behind the interface in ``base.py``; ``registry.PACKS`` lists them."""

"""Registers the PettingZoo tests' fixtures (defined in pz_helpers.py)."""

from pz_helpers import masked_tag  # noqa: F401

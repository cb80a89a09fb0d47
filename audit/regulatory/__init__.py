"""Regulator packs: the figures a regulation asks a bias audit to publish (docs/regulators.md)."""

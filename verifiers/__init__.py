"""Verifiers: decide whether a completion is right, and why. Usable alone, never imports torch."""

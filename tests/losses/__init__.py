"""Tests of every criterion against a NumPy reference, and the registry's contract."""

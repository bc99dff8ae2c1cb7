"""Carrier adapters: one folder per carrier, all fulfilling the `Carrier` protocol."""

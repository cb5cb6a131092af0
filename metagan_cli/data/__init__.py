"""Datasets as class-indexed image arrays (host side; episodes are sampled on device)."""

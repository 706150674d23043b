"""Datasets: readers, records, transforms, samplers, mesh pairs, the synthetic generator."""

"""Estimates before a run: energy and CO2 calculators, dense vs MoE, region and start-time choice, GPU specs."""

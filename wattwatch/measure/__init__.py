"""Measurement core: the sampler thread, the ledger that turns readings into energy (J, kWh) and CO2 (g, kg), and
the end-of-run projection."""

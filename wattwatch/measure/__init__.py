"""The measurement core, independent of where numbers go:

- :mod:`.sampler` -- the background thread that reads every sensor at a steady interval (and on demand);
- :mod:`.ledger` -- folds readings into energy (J, then kWh with PUE) and CO2 (g), per channel and phase, with
  gaps recorded, not guessed;
- :mod:`.projection` -- the end-of-run totals projected from the steps done so far.
"""

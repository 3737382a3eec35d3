"""Measure the levers on your own model (``wattwatch levers``): J/token over batch sizes and precisions, and the
energy of each request under batching, split so that the requests add up to the measured energy.

- :mod:`.attribution` -- the per-request rule and :class:`RequestAttributor` for serving loops (pure Python);
- :mod:`.generate` -- :class:`GenerateRecorder`, the steps of a Hugging Face ``generate`` call;
- :mod:`.sweep` -- the sweep (models x precisions x batch sizes; loads torch and transformers), on
  :mod:`.models`, :mod:`.precision`, :mod:`.window`, :mod:`.quality`, :mod:`.comparison`;
- :mod:`.results`, :mod:`.text`, :mod:`.html` -- results, the table, the HTML section; :mod:`.inputs` -- the
  prompt file and evaluation text, checked.

Names load on first use: ``import wattwatch.levers`` imports neither torch nor transformers.
"""

from __future__ import annotations

from wattwatch.util.lazy import lazy_names

__all__ = [
    "GenerateRecorder",
    "RequestAttributor",
    "RequestEnergy",
    "Step",
    "SweepOptions",
    "SweepResult",
    "run_sweep",
    "split_energy",
]

_LAZY = {
    "GenerateRecorder": "wattwatch.levers.generate",
    "RequestAttributor": "wattwatch.levers.attribution",
    "RequestEnergy": "wattwatch.levers.attribution",
    "Step": "wattwatch.levers.attribution",
    "split_energy": "wattwatch.levers.attribution",
    "SweepOptions": "wattwatch.levers.sweep",
    "run_sweep": "wattwatch.levers.sweep",
    "SweepResult": "wattwatch.levers.results",
}

__getattr__, __dir__ = lazy_names(__name__, _LAZY, __all__)

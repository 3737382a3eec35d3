"""The results of a ``wattwatch levers`` sweep: one :class:`ConfigResult` per (model, precision, batch size)
measured, the configurations skipped with their reason, and the Pareto front of J/token against perplexity.

Every derived figure divides the window's measured energy: J/token = energy / generated tokens, J/request =
energy / requests, and the requests' own energies (:mod:`wattwatch.levers.attribution`) add up to it.
:func:`sweep_from_json` reads ``--json`` output back (for ``wattwatch report --levers``), checking every field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from wattwatch.levers.attribution import RequestEnergy

if TYPE_CHECKING:
    from wattwatch.levers.comparison import Comparison

__all__ = ["ConfigResult", "Skipped", "SweepResult", "mark_pareto", "percentile", "sweep_from_json"]


def _finite(v: object) -> object:
    return None if isinstance(v, float) and not math.isfinite(v) else v


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) with linear interpolation between order statistics (numpy's default)."""
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


@dataclass
class ConfigResult:
    """One configuration's window. Units: J, s, MiB."""

    model: str
    dtype: str
    batch_size: int
    energy_j: float
    """The window's energy as the tracker measured it (PUE applied)."""
    duration_s: float
    requests: list[RequestEnergy]
    perplexity: float
    agreement: float
    """Greedy-output prefix agreement with ``reference_dtype`` (1.0 for the reference itself)."""
    reference_dtype: str
    peak_memory_mb: float | None = None
    memory_source: str = ""
    weights_mb: float | None = None
    method: str = ""
    """How the precision was obtained (``float32``, ``torch dynamic quantization ...``)."""
    attribution_s: float = 0.0
    measured_j: float | None = None
    """The tracker's own total for the window's phase, read at the end of the sweep (a check on ``energy_j``)."""
    pareto: bool = False

    @property
    def tokens(self) -> int:
        return sum(r.new_tokens for r in self.requests)

    @property
    def joules_per_token(self) -> float:
        return self.energy_j / self.tokens if self.tokens else math.nan

    @property
    def joules_per_request(self) -> float:
        return self.energy_j / len(self.requests) if self.requests else math.nan

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.duration_s if self.duration_s > 0 else math.nan

    @property
    def latency_p50_s(self) -> float | None:
        return percentile([r.latency_s for r in self.requests if r.latency_s is not None], 0.5)

    @property
    def latency_p90_s(self) -> float | None:
        return percentile([r.latency_s for r in self.requests if r.latency_s is not None], 0.9)

    @property
    def prefill_share(self) -> float | None:
        """Share of the window's energy attributed to prefill."""
        total = math.fsum(r.energy_j for r in self.requests)
        return math.fsum(r.prefill_j for r in self.requests) / total if total > 0 else None

    def as_json(self) -> dict[str, Any]:
        """The ``configs`` entry of ``--json``: the issue's keys first, then the other figures (``null`` where a
        figure is missing or not finite)."""
        return {k: _finite(v) for k, v in self._fields().items()}

    def _fields(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "batch_size": self.batch_size,
            "dtype": self.dtype,
            "joules_per_token": self.joules_per_token,
            "tokens_per_s": self.tokens_per_s,
            "perplexity": self.perplexity,
            "energy_j": self.energy_j,
            "requests": [r.as_dict() for r in self.requests],
            "joules_per_request": self.joules_per_request,
            "tokens": self.tokens,
            "duration_s": self.duration_s,
            "latency_p50_s": self.latency_p50_s,
            "latency_p90_s": self.latency_p90_s,
            "peak_memory_mb": self.peak_memory_mb,
            "memory_source": self.memory_source,
            "weights_mb": self.weights_mb,
            "agreement": self.agreement,
            "reference_dtype": self.reference_dtype,
            "method": self.method,
            "prefill_share": self.prefill_share,
            "attribution_s": self.attribution_s,
            "measured_j": self.measured_j,
            "pareto": self.pareto,
        }


@dataclass(frozen=True)
class Skipped:
    """A configuration not measured, and why (``batch_size`` ``None``: every batch size of that precision)."""

    model: str
    dtype: str
    reason: str
    batch_size: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {"model": self.model, "dtype": self.dtype, "batch_size": self.batch_size, "reason": self.reason}


@dataclass
class SweepResult:
    """A whole sweep: configurations, skips, the two-model comparison and how it was measured."""

    configs: list[ConfigResult]
    skipped: list[Skipped] = field(default_factory=list)
    comparison: Comparison | None = None
    device: str = "cpu"
    device_name: str = ""
    threads: str = ""
    """torch CPU threads used, and how they were chosen."""
    energy_method: str = ""
    new_tokens: int = 0
    window_s: float = 0.0
    warmup_s: float = 0.0
    eval_text: str = ""
    duration_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "configs": [c.as_json() for c in self.configs],
            "skipped": [s.as_json() for s in self.skipped],
            "comparison": None if self.comparison is None else self.comparison.as_json(),
            "device": self.device,
            "device_name": self.device_name,
            "threads": self.threads,
            "energy_method": self.energy_method,
            "new_tokens": self.new_tokens,
            "window_s": self.window_s,
            "warmup_s": self.warmup_s,
            "eval_text": self.eval_text,
            "duration_s": self.duration_s,
            "notes": list(self.notes),
        }


def mark_pareto(configs: Sequence[ConfigResult]) -> None:
    """Set ``pareto`` on the configurations no other beats on both J/token and perplexity (lower is better)."""
    from wattwatch.report.runs import pareto_front

    pts = [(c.joules_per_token, c.perplexity) for c in configs]
    front = set(pareto_front([p for p in pts if all(map(math.isfinite, p))], minimize_y=True))
    for c, p in zip(configs, pts, strict=True):
        c.pareto = p in front


# -- reading --json output back (a file anyone may have written) ---------------------------------------------
_MAX_CONFIGS = 1000
_MAX_REQUESTS = 100_000
_MAX_TEXT = 200


def _text(d: Mapping[str, Any], key: str, default: str | None = None) -> str:
    v = d.get(key, default)
    if not isinstance(v, str):
        raise ValueError(f"{key!r} must be text")
    return "".join(ch if ch.isprintable() else "?" for ch in v[:_MAX_TEXT])


def _num(d: Mapping[str, Any], key: str, *, optional: bool = False) -> float:
    v = d.get(key)
    if v is None and optional:
        return math.nan
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise ValueError(f"{key!r} must be a finite number")
    return float(v)


def _list(d: Mapping[str, Any], key: str) -> list[Any]:
    """``d[key]`` when it is a list, else empty (an optional part a careless writer got wrong is left out)."""
    v = d.get(key)
    return v if isinstance(v, list) else []


def _config_from_json(d: object) -> ConfigResult:
    if not isinstance(d, dict):
        raise ValueError("each config must be an object")
    raw = d.get("requests")
    if not isinstance(raw, list) or len(raw) > _MAX_REQUESTS:
        raise ValueError(f"'requests' must be a list of at most {_MAX_REQUESTS}")
    requests = []
    for i, r in enumerate(raw):
        if not isinstance(r, dict):
            raise ValueError("each request must be an object")
        latency = _num(r, "latency_s", optional=True)
        requests.append(
            RequestEnergy(
                i, int(_num(r, "prompt_tokens")), int(_num(r, "new_tokens")), _num(r, "prefill_j"), _num(r, "decode_j"),
                None if math.isnan(latency) else latency,
            )
        )  # fmt: skip
    batch = _num(d, "batch_size")
    if batch < 1 or batch != int(batch):
        raise ValueError("'batch_size' must be a positive integer")
    peak = _num(d, "peak_memory_mb", optional=True)
    agreement = _num(d, "agreement", optional=True)
    return ConfigResult(
        model=_text(d, "model"),
        dtype=_text(d, "dtype"),
        batch_size=int(batch),
        energy_j=_num(d, "energy_j"),
        duration_s=_duration(d, requests),
        requests=requests,
        perplexity=_num(d, "perplexity"),
        agreement=agreement,
        reference_dtype=_text(d, "reference_dtype", ""),
        peak_memory_mb=None if math.isnan(peak) else peak,
        method=_text(d, "method", ""),
        pareto=bool(d.get("pareto", False)),
    )


def _duration(d: Mapping[str, Any], requests: Sequence[RequestEnergy]) -> float:
    """The window's length: ``duration_s`` when given, else tokens / tokens_per_s."""
    if d.get("duration_s") is not None:
        return _num(d, "duration_s")
    rate = _num(d, "tokens_per_s")
    return sum(r.new_tokens for r in requests) / rate if rate > 0 else 0.0


def sweep_from_json(data: object) -> SweepResult:
    """A :class:`SweepResult` from ``wattwatch levers --json`` output; ``ValueError`` naming the first problem."""
    if not isinstance(data, dict) or not isinstance(data.get("configs"), list):
        raise ValueError('expected the output of `wattwatch levers --json` ({"configs": [...]})')
    if len(data["configs"]) > _MAX_CONFIGS:
        raise ValueError(f"more than {_MAX_CONFIGS} configs")
    configs = [_config_from_json(c) for c in data["configs"]]
    skipped = []
    for s in _list(data, "skipped"):
        if isinstance(s, dict):
            b = s.get("batch_size")
            skipped.append(
                Skipped(_text(s, "model"), _text(s, "dtype"), _text(s, "reason"), b if isinstance(b, int) else None)
            )
    out = SweepResult(configs, skipped[:_MAX_CONFIGS])
    if data.get("comparison") is not None:
        from wattwatch.levers.comparison import comparison_from_json

        out.comparison = comparison_from_json(data["comparison"])
    for key in ("device", "device_name", "threads", "energy_method", "eval_text"):
        if isinstance(data.get(key), str):
            setattr(out, key, _text(data, key))
    if isinstance(data.get("new_tokens"), int):
        out.new_tokens = int(data["new_tokens"])
    for key in ("window_s", "warmup_s", "duration_s"):
        if data.get(key) is not None:
            setattr(out, key, _num(data, key))
    out.notes = [_text({"n": n}, "n") for n in _list(data, "notes")[:100] if isinstance(n, str)]
    return out

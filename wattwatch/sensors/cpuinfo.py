"""CPU model name, socket and logical-CPU counts from ``/proc/cpuinfo``, and the model's TDP from CodeCarbon's table.

The TDP table is CodeCarbon's shipped ``data/hardware/cpu_power.csv`` (columns ``Name,TDP``; watts **per
socket**; names like ``Intel Xeon Platinum 8375C`` or ``AMD EPYC 7R13``). It is read directly: CodeCarbon and
py-cpuinfo are never imported. ``/proc/cpuinfo`` names carry marks the table does not (``Intel(R) Xeon(R)
Platinum 8375C CPU @ 2.90GHz``, ``AMD EPYC 7763 64-Core Processor``, ``11th Gen Intel(R) Core(TM)
i7-1165G7 @ 2.80GHz``); :func:`normalize_cpu_name` strips them on both sides before matching.
"""

from __future__ import annotations

import csv
import os
import re
from functools import lru_cache
from pathlib import Path

from wattwatch.carbon.codecarbon_data import codecarbon_data_dir
from wattwatch.util.records import record

__all__ = [
    "DEFAULT_TDP_W",
    "CpuInfo",
    "TdpMatch",
    "load_tdp_table",
    "lookup_tdp",
    "normalize_cpu_name",
    "read_cpuinfo",
    "tdp_csv_path",
]

DEFAULT_TDP_W = 85.0
"""Per-socket TDP in watts used when the model is unknown: CodeCarbon's own fallback (``POWER_CONSTANT = 85``)."""

_CSV_RELATIVE = "hardware/cpu_power.csv"
_VENDORS = {"intel", "amd"}
_STRIP_PATTERNS = [
    re.compile(r"\((?:r|tm|c)\)", re.IGNORECASE),
    re.compile(r"[®™]"),
    re.compile(r"@\s*[\d.]+\s*[gm]hz.*$", re.IGNORECASE),  # "@ 2.90GHz" and anything after
    re.compile(r"\b\d+(?:st|nd|rd|th)\s+gen\b", re.IGNORECASE),  # "11th Gen"
    re.compile(r"\b[\w]+-core\b", re.IGNORECASE),  # "64-Core", "Eight-Core"
    re.compile(r"\bwith\s+radeon.*$", re.IGNORECASE),  # "with Radeon Graphics"
    re.compile(r"\b(?:processor|cpu)\b", re.IGNORECASE),
]


def normalize_cpu_name(name: str) -> str:
    """Lower-case model name without trademarks, frequency, core count or filler words.

    ``"Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz"`` -> ``"intel xeon platinum 8375c"``.
    """
    out = name
    for pattern in _STRIP_PATTERNS:
        out = pattern.sub(" ", out)
    return " ".join(out.lower().split())


@record
class CpuInfo:
    """What ``/proc/cpuinfo`` says: raw ``model_name`` (``""`` if absent), ``sockets`` (distinct physical ids,
    ``None`` when not listed), ``logical_cpus`` (``processor`` entries) and whether the CPU flags include
    ``hypervisor`` (set by every hypervisor for its guests)."""

    model_name: str
    sockets: int | None
    logical_cpus: int
    hypervisor: bool = False


def read_cpuinfo(proc_root: Path = Path("/proc")) -> CpuInfo:
    """Parse ``<proc_root>/cpuinfo``; a missing or unreadable file gives an empty model and ``os.cpu_count()``."""
    try:
        text = (Path(proc_root) / "cpuinfo").read_text(errors="replace")
    except OSError:
        return CpuInfo("", None, os.cpu_count() or 1)
    model = ""
    physical_ids: set[str] = set()
    processors = 0
    hypervisor = False
    flags_seen = False
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip().lower(), value.strip()
        if key == "processor":
            processors += 1
        elif key == "model name" and not model:
            model = value
        elif key == "physical id":
            physical_ids.add(value)
        elif key == "flags" and not flags_seen:
            flags_seen = True
            hypervisor = "hypervisor" in value.split()
    return CpuInfo(model, len(physical_ids) or None, processors or os.cpu_count() or 1, hypervisor)


@record
class TdpMatch:
    """A TDP lookup result: ``tdp_w`` per socket, the table ``name`` matched (``""`` for the default) and
    ``source``: ``codecarbon-csv`` (exact), ``codecarbon-csv-partial`` (all the table name's words found in the
    model name) or ``default``."""

    tdp_w: float
    name: str
    source: str


def tdp_csv_path(data_dir: Path | None = None) -> Path | None:
    """CodeCarbon's ``cpu_power.csv`` in ``data_dir`` (default: the installed CodeCarbon's data folder), or
    ``None`` when CodeCarbon's data is not installed."""
    base = data_dir if data_dir is not None else codecarbon_data_dir()
    return None if base is None else Path(base) / _CSV_RELATIVE


@lru_cache(maxsize=4)
def load_tdp_table(data_dir: Path | None = None) -> dict[str, tuple[str, float]]:
    """``normalized name -> (table name, TDP W per socket)`` from CodeCarbon's ``cpu_power.csv``.

    Empty when CodeCarbon's data is not installed (callers then use :data:`DEFAULT_TDP_W`).
    """
    path = tdp_csv_path(data_dir)
    if path is None:
        return {}
    table: dict[str, tuple[str, float]] = {}
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                try:
                    name, tdp = row["Name"].strip(), float(row["TDP"])
                except (KeyError, TypeError, ValueError):
                    continue
                if tdp > 0:
                    table.setdefault(normalize_cpu_name(name), (name, tdp))
    except OSError:
        return {}
    return table


def _model_tokens(normalized: str) -> frozenset[str]:
    return frozenset(t for t in normalized.split() if t not in _VENDORS)


def lookup_tdp(model_name: str, table: dict[str, tuple[str, float]]) -> TdpMatch:
    """Per-socket TDP of ``model_name`` (raw ``/proc/cpuinfo`` text or a table name).

    Exact normalized match first; then the table entry with the most words, all found in the model name and one
    of them a model number (has a digit) -- so ``Xeon Platinum 8375C`` without vendor still matches, and a bare
    ``AMD EPYC`` (a VM hiding its model) falls to the default.
    """
    key = normalize_cpu_name(model_name)
    if key and key in table:
        name, tdp = table[key]
        return TdpMatch(tdp, name, "codecarbon-csv")
    query = _model_tokens(key)
    best: tuple[int, str] | None = None
    if query:
        for candidate in table:
            tokens = _model_tokens(candidate)
            if tokens and tokens <= query and any(ch.isdigit() for t in tokens for ch in t):
                if best is None or len(tokens) > best[0] or (len(tokens) == best[0] and candidate < best[1]):
                    best = (len(tokens), candidate)
    if best is not None:
        name, tdp = table[best[1]]
        return TdpMatch(tdp, name, "codecarbon-csv-partial")
    return TdpMatch(DEFAULT_TDP_W, "", "default")

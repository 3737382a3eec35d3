"""The cloud-region catalog used to choose where to run: grid intensity, price and renewable share per region.

The default catalog is the textbook's eight regions (with its intensity, price and renewable-share figures) plus
every GCP region in CodeCarbon's shipped ``cloud/impact.csv`` (intensity only: no price, no renewable share).
Where both give an intensity for the same region, the book's figure is kept for ranking and CodeCarbon's is kept
alongside as ``reference_g_per_kwh`` so both can be shown. A user CSV with columns
``provider,region,g_per_kwh,usd_per_gpu_hour,renewable_share`` extends the catalog and overrides matching rows.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from wattwatch.carbon.codecarbon_data import require_data_file

__all__ = [
    "BOOK_REGIONS",
    "CATALOG_COLUMNS",
    "Region",
    "codecarbon_cloud_regions",
    "default_catalog",
    "merge_catalogs",
    "read_catalog_csv",
]

CATALOG_COLUMNS: tuple[str, ...] = ("provider", "region", "g_per_kwh", "usd_per_gpu_hour", "renewable_share")
"""Columns of a user catalog CSV (the last two may be empty)."""


@dataclass(frozen=True)
class Region:
    """One cloud region.

    ``g_per_kwh`` (gCO2eq/kWh) is the figure rankings use and ``source`` says where it comes from;
    ``usd_per_gpu_hour`` (US dollars per GPU-hour) and ``renewable_share`` (0-1) are ``None`` when unknown;
    ``reference_g_per_kwh`` / ``reference_source`` hold a second published figure for the same region (CodeCarbon's),
    shown next to the ranked one but not used.
    """

    provider: str
    region: str
    g_per_kwh: float
    usd_per_gpu_hour: float | None
    renewable_share: float | None
    source: str
    reference_g_per_kwh: float | None = None
    reference_source: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        """``(provider, region)`` in lower case: what identifies a region across catalogs."""
        return (self.provider.strip().lower(), self.region.strip().lower())


BOOK_SOURCE = "book"
BOOK_REGIONS: tuple[Region, ...] = (
    Region("aws", "us-east-1", 380.0, 3.06, 0.30, BOOK_SOURCE),
    Region("aws", "us-west-2", 120.0, 3.06, 0.72, BOOK_SOURCE),
    Region("aws", "eu-north-1", 25.0, 3.40, 0.95, BOOK_SOURCE),
    Region("aws", "ca-central-1", 30.0, 3.06, 0.82, BOOK_SOURCE),
    Region("aws", "ap-south-1", 700.0, 2.74, 0.18, BOOK_SOURCE),
    Region("gcp", "europe-north1", 30.0, 3.22, 0.92, BOOK_SOURCE),
    Region("gcp", "us-central1", 450.0, 3.22, 0.35, BOOK_SOURCE),
    Region("azure", "swedencentral", 20.0, 3.40, 0.95, BOOK_SOURCE),
)
"""The textbook's region table: gCO2eq/kWh, $/GPU-hour, renewable share."""


def codecarbon_cloud_regions(data_dir: Path | None = None) -> tuple[Region, ...]:
    """Every row of CodeCarbon's ``cloud/impact.csv`` as a :class:`Region` (no price, no renewable share).

    ``data_dir`` is CodeCarbon's data folder (default: the installed package's). Raises ``FileNotFoundError``
    saying how to install CodeCarbon's data when it is missing.
    """
    path = require_data_file("cloud/impact.csv", data_dir)
    out: list[Region] = []
    with path.open(newline="", encoding="utf-8-sig") as fh:
        for row in csv.DictReader(fh):
            try:
                impact = float(row["impact"])
            except (KeyError, TypeError, ValueError):
                continue
            provider = (row.get("provider") or "").strip().lower()
            region = (row.get("region") or "").strip()
            if provider and region:
                out.append(
                    Region(provider, region, impact, None, None, f"codecarbon:cloud/impact.csv ({provider})")
                )
    return tuple(out)


def merge_catalogs(
    base: Iterable[Region], extra: Iterable[Region], *, keep_base_figure: bool
) -> tuple[Region, ...]:
    """``base`` extended by ``extra`` (order: base first, then new regions of ``extra``).

    For a region in both: with ``keep_base_figure`` the base row stays and the extra row's intensity becomes its
    reference figure (how CodeCarbon's data joins the book's table); otherwise the extra row replaces the base row,
    keeping the base's price / renewable share where the extra row leaves them empty (how a user CSV overrides).
    """
    merged: dict[tuple[str, str], Region] = {r.key: r for r in base}
    for row in extra:
        old = merged.get(row.key)
        if old is None:
            merged[row.key] = row
        elif keep_base_figure:
            merged[row.key] = replace(old, reference_g_per_kwh=row.g_per_kwh, reference_source=row.source)
        else:
            keep_ref = old.reference_g_per_kwh is not None
            merged[row.key] = replace(
                row,
                reference_g_per_kwh=old.reference_g_per_kwh if keep_ref else old.g_per_kwh,
                reference_source=old.reference_source if keep_ref else old.source,
                usd_per_gpu_hour=row.usd_per_gpu_hour
                if row.usd_per_gpu_hour is not None
                else old.usd_per_gpu_hour,
                renewable_share=row.renewable_share
                if row.renewable_share is not None
                else old.renewable_share,
            )
    return tuple(merged.values())


def default_catalog(data_dir: Path | None = None, *, include_codecarbon: bool = True) -> tuple[Region, ...]:
    """The book's regions plus CodeCarbon's GCP regions (when its data is installed; silently without it)."""
    if not include_codecarbon:
        return BOOK_REGIONS
    try:
        extra = codecarbon_cloud_regions(data_dir)
    except FileNotFoundError:
        return BOOK_REGIONS
    return merge_catalogs(BOOK_REGIONS, extra, keep_base_figure=True)


def _optional_float(text: str | None, column: str, line: int, path: Path) -> float | None:
    if text is None or not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(
            f"{path}:{line}: {column} {text!r} is not a number; write e.g. 3.06 or leave it empty"
        ) from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{path}:{line}: {column} must be a finite number >= 0, got {text!r}")
    return value


def read_catalog_csv(path: str | Path) -> tuple[Region, ...]:
    """Regions from a user CSV with header ``provider,region,g_per_kwh,usd_per_gpu_hour,renewable_share``.

    ``g_per_kwh`` is required; price and renewable share may be empty. A renewable share above 1 is read as a
    percentage (``95`` -> 0.95). Raises ``ValueError`` naming the line and the fix on bad input.
    """
    p = Path(path)
    with p.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in ("provider", "region", "g_per_kwh") if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(
                f"{p}: missing column(s) {', '.join(missing)}; header must be {','.join(CATALOG_COLUMNS)}"
            )
        out: list[Region] = []
        for line, row in enumerate(reader, start=2):
            provider, region = (row.get("provider") or "").strip(), (row.get("region") or "").strip()
            if not provider or not region:
                raise ValueError(f"{p}:{line}: provider and region must not be empty")
            g = _optional_float(row.get("g_per_kwh"), "g_per_kwh", line, p)
            if g is None:
                raise ValueError(f"{p}:{line}: g_per_kwh is required (gCO2eq/kWh)")
            share = _optional_float(row.get("renewable_share"), "renewable_share", line, p)
            if share is not None and share > 1:
                share = share / 100.0
            if share is not None and share > 1:
                raise ValueError(
                    f"{p}:{line}: renewable_share must be between 0 and 1 (or a percentage up to 100)"
                )
            usd = _optional_float(row.get("usd_per_gpu_hour"), "usd_per_gpu_hour", line, p)
            out.append(Region(provider.lower(), region, g, usd, share, f"catalog:{p.name}"))
    return tuple(out)

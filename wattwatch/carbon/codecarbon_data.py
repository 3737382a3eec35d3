"""Locate CodeCarbon's emission-factor and CPU TDP files: the copies shipped inside wattwatch, first.

wattwatch ships the eight data files its lookups read, copied unchanged from CodeCarbon 3.3.2 (MIT
licence, notice in ``wattwatch/carbon/data/LICENSE-codecarbon``): emission factors per country, US state,
Canadian province, Nordic zone, Chinese province and cloud region, and the CPU TDP table. So place names
(``country_iso_code="FRA"``) work with the base install, without CodeCarbon or pandas, and a given wattwatch
version always gives the same figures whatever else is installed.

Which copy wins: the bundled one. An installed CodeCarbon's ``data`` folder is used only when a bundled file is
missing (a broken install), or when the user asks for it with ``WATTWATCH_CODECARBON_DATA=installed`` (to follow
a newer CodeCarbon's figures without waiting for a wattwatch release) or ``WATTWATCH_CODECARBON_DATA=/some/dir``
(a folder laid out like CodeCarbon's ``data``). No CodeCarbon module is ever imported here.
"""

from __future__ import annotations

import importlib.util
import os
from functools import lru_cache
from pathlib import Path

__all__ = [
    "BUNDLED_DATA_DIR",
    "DATA_ENV",
    "DATA_FILES",
    "DATA_VERSION",
    "INSTALL_HINT",
    "codecarbon_data_dir",
    "codecarbon_version",
    "installed_codecarbon_data_dir",
    "require_data_file",
]

DATA_VERSION = "3.3.2"
"""The CodeCarbon release the bundled files were copied from (also written in the ``codecarbon_version``
column: the emission factors and row format a row follows)."""

BUNDLED_DATA_DIR = Path(__file__).resolve().parent / "data"
"""``wattwatch/carbon/data``: the bundled copies, laid out like CodeCarbon's ``codecarbon/data``."""

DATA_FILES = (
    "private_infra/global_energy_mix.json",
    "private_infra/carbon_intensity_per_source.json",
    "private_infra/2023/usa_emissions.json",
    "private_infra/2023/canada_energy_mix.json",
    "private_infra/nordic_emissions.json",
    "private_infra/2023/china_provincial_emissions.json",
    "cloud/impact.csv",
    "hardware/cpu_power.csv",
)
"""Every file wattwatch reads, relative to the data folder (the rest of CodeCarbon's data is not shipped)."""

DATA_ENV = "WATTWATCH_CODECARBON_DATA"
"""Environment variable: ``installed`` (an installed CodeCarbon's files) or a folder path; unset: bundled."""

INSTALL_HINT = (
    "wattwatch's bundled copy of CodeCarbon's data is missing (reinstall wattwatch), or point "
    f"{DATA_ENV} at a folder laid out like CodeCarbon's codecarbon/data"
)


@lru_cache(maxsize=1)
def installed_codecarbon_data_dir() -> Path | None:
    """An installed CodeCarbon's ``data`` folder (found without importing it), or ``None``."""
    try:
        spec = importlib.util.find_spec("codecarbon")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "data"
        if candidate.is_dir():
            return candidate
    return None


def codecarbon_data_dir(environ: os._Environ[str] | dict[str, str] | None = None) -> Path | None:
    """The data folder lookups read: ``WATTWATCH_CODECARBON_DATA`` when set, else the bundled copy, else an
    installed CodeCarbon's (``None`` when there is none at all)."""
    env = os.environ if environ is None else environ
    choice = env.get(DATA_ENV, "").strip()
    if choice == "installed":
        return installed_codecarbon_data_dir()
    if choice:
        return Path(choice)
    if BUNDLED_DATA_DIR.is_dir():
        return BUNDLED_DATA_DIR
    return installed_codecarbon_data_dir()


@lru_cache(maxsize=1)
def codecarbon_version() -> str:
    """Installed CodeCarbon version (from package metadata, not by import), or ``""``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("codecarbon")
    except PackageNotFoundError:
        return ""


def require_data_file(relative: str, data_dir: Path | None = None) -> Path:
    """Path of ``relative`` (e.g. ``"cloud/impact.csv"``) in ``data_dir``, or in :func:`codecarbon_data_dir`
    falling back to an installed CodeCarbon when the chosen folder lacks it. ``FileNotFoundError`` says what to
    do when no folder has it."""
    if data_dir is not None:
        candidates = [Path(data_dir)]
    else:
        chosen = codecarbon_data_dir()
        candidates = [c for c in (chosen, installed_codecarbon_data_dir()) if c is not None]
    for base in candidates:
        path = base / relative
        if path.is_file():
            return path
    where = ", ".join(str(c) for c in candidates) or "no data folder"
    raise FileNotFoundError(f"{relative} is not in {where}; {INSTALL_HINT}")

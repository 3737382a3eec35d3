"""Locate the data files CodeCarbon ships, without importing any CodeCarbon module.

CodeCarbon (``pip install 'wattwatch[data]'``) carries emission factors per country, US state, Canadian province,
Nordic zone, Chinese province and cloud region, and a CPU TDP table. wattwatch reads those files directly:
importing CodeCarbon itself would cost about a second and pull in pandas.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

__all__ = ["INSTALL_HINT", "codecarbon_data_dir", "codecarbon_version", "require_data_file"]

INSTALL_HINT = "install CodeCarbon's data with `pip install 'wattwatch[data]'` (or `pip install codecarbon`)"


@lru_cache(maxsize=1)
def codecarbon_data_dir() -> Path | None:
    """CodeCarbon's ``data`` folder, or ``None`` when CodeCarbon is not installed."""
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


@lru_cache(maxsize=1)
def codecarbon_version() -> str:
    """Installed CodeCarbon version (from package metadata, not by import), or ``""``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("codecarbon")
    except PackageNotFoundError:
        return ""


def require_data_file(relative: str, data_dir: Path | None = None) -> Path:
    """Path of ``relative`` inside CodeCarbon's data folder (or ``data_dir``); ``FileNotFoundError`` says how to
    install it when missing."""
    base = data_dir if data_dir is not None else codecarbon_data_dir()
    if base is None:
        raise FileNotFoundError(f"CodeCarbon's data files are not installed: {INSTALL_HINT}")
    path = Path(base) / relative
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from CodeCarbon's data; {INSTALL_HINT}")
    return path

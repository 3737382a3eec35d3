"""Fake ``/sys/class/hwmon`` trees for the hwmon GPU sensor's tests.

``add_gpu(root, ...)`` creates ``<root>/class/hwmon/hwmonN`` (a symlink, as in sysfs) to a directory inside the
PCI device ``<root>/devices/pci0000:00/<bus id>``, with ``name``, the ``device`` link and the given attribute
files. Values are written as the kernel does: integers in micro-units, one per file.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["add_gpu", "hwmon_root"]


def hwmon_root(root: Path) -> Path:
    """The ``class/hwmon`` directory under ``root`` (created)."""
    path = root / "class" / "hwmon"
    path.mkdir(parents=True, exist_ok=True)
    return path


def add_gpu(
    root: Path,
    driver: str,
    bus_id: str,
    files: dict[str, str | int],
    *,
    device_files: dict[str, str | int] | None = None,
) -> Path:
    """Add one hwmon device for ``driver`` on PCI function ``bus_id``; returns the hwmon directory (the link)."""
    classes = hwmon_root(root)
    index = len(list(classes.iterdir()))
    device = root / "devices" / "pci0000:00" / bus_id
    real = device / "hwmon" / f"hwmon{index}"
    real.mkdir(parents=True)
    for name, value in (device_files or {}).items():
        (device / name).write_text(f"{value}\n")
    (real / "name").write_text(f"{driver}\n")
    (real / "device").symlink_to(device)
    for name, value in files.items():
        (real / name).write_text(f"{value}\n")
    link = classes / f"hwmon{index}"
    link.symlink_to(real)
    return link

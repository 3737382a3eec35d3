"""Build fake ``/sys/class/powercap`` trees for the RAPL tests.

The real class directory lists every zone flat (as symlinks): ``intel-rapl`` (the control type, no index),
``intel-rapl:0`` (a package), ``intel-rapl:0:0`` (a subzone: core, uncore or dram), ``intel-rapl:1`` (a second
package, or ``psys`` on client parts) and ``intel-rapl-mmio:0`` (the same package exposed again through MMIO).
Each zone holds ``name``, ``energy_uj`` and ``max_energy_range_uj``. This helper writes the same layout as plain
directories and files, and lets a test advance a counter with the hardware's wraparound.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["FakePowercap", "DEFAULT_MAX_UJ"]

DEFAULT_MAX_UJ = 262_143_328_850
"""A real ``max_energy_range_uj`` (a Skylake-SP package: 2**32 units of 61.035 uJ)."""


@dataclass
class FakePowercap:
    """A fake powercap tree under ``root``; zone counters are set with :meth:`set` / :meth:`add`."""

    root: Path

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "intel-rapl").mkdir(exist_ok=True)  # the control type: no index, never a zone

    def zone(self, zone: str, name: str, energy_uj: int = 0, max_uj: int = DEFAULT_MAX_UJ) -> Path:
        """Create zone directory ``zone`` (e.g. ``intel-rapl:0``) named ``name`` (e.g. ``package-0``)."""
        path = self.root / zone
        path.mkdir(parents=True, exist_ok=True)
        (path / "name").write_text(name + "\n")
        (path / "max_energy_range_uj").write_text(f"{max_uj}\n")
        (path / "energy_uj").write_text(f"{energy_uj}\n")
        return path

    def set(self, zone: str, energy_uj: int) -> None:
        """Write the raw counter value of ``zone``."""
        (self.root / zone / "energy_uj").write_text(f"{energy_uj}\n")

    def get(self, zone: str) -> int:
        return int((self.root / zone / "energy_uj").read_text())

    def add(self, zone: str, delta_uj: int) -> None:
        """Advance ``zone`` by ``delta_uj`` microjoules, wrapping at ``max_energy_range_uj`` like the hardware."""
        max_uj = int((self.root / zone / "max_energy_range_uj").read_text())
        self.set(zone, (self.get(zone) + delta_uj) % max_uj)

    def break_counter(self, zone: str) -> None:
        """Make ``energy_uj`` unreadable even for root: replace the file by a directory (IsADirectoryError)."""
        path = self.root / zone / "energy_uj"
        path.unlink()
        path.mkdir()

    def repair_counter(self, zone: str, energy_uj: int) -> None:
        """Undo :meth:`break_counter` with a new counter value."""
        path = self.root / zone / "energy_uj"
        path.rmdir()
        path.write_text(f"{energy_uj}\n")

    @classmethod
    def server(
        cls, root: Path, packages: int = 2, dram: bool = True, psys: bool = True, mmio: bool = True
    ) -> FakePowercap:
        """A two-socket server layout: packages with core and dram subzones, psys and an MMIO duplicate."""
        fake = cls(root)
        for n in range(packages):
            fake.zone(f"intel-rapl:{n}", f"package-{n}", energy_uj=1_000_000 * (n + 1))
            fake.zone(f"intel-rapl:{n}:0", "core", energy_uj=500_000)
            if dram:
                fake.zone(f"intel-rapl:{n}:1", "dram", energy_uj=200_000 * (n + 1), max_uj=65_712_999_613)
        if psys:
            fake.zone(f"intel-rapl:{packages}", "psys", energy_uj=9_000_000)
            fake.zone(f"intel-rapl:{packages}:0", "package-0", energy_uj=9_000_000)  # psys children: never
        if mmio:
            fake.zone("intel-rapl-mmio:0", "package-0", energy_uj=7_000_000)
        return fake

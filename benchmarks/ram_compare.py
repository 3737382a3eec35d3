"""RAM power on this machine: CodeCarbon 3.3.2's figure beside wattwatch's (issue 24, docs/codecarbon.md).

    python benchmarks/ram_compare.py [--seconds 5]

Runs CodeCarbon's ``OfflineEmissionsTracker`` and wattwatch's ``Tracker`` one after the other for ``--seconds``
each (machine mode, no GPU needed), and prints each tool's ``ram_power`` (W), ``ram_energy`` (kWh) and how it
got there: CodeCarbon's DIMM estimate (5 W per estimated DIMM on x86) and wattwatch's installed GiB x 0.375 W
(Crucial's 3 W per 8 GB). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from typing import Any

__all__ = ["main", "measure"]


def measure(seconds: float = 5.0) -> dict[str, Any]:
    """Both tools' RAM figures on this machine (see the module docstring)."""
    from wattwatch import Tracker
    from wattwatch.sensors.sysinfo import ram_total_bytes

    out: dict[str, Any] = {"installed_gib": ram_total_bytes() / 2**30}
    with tempfile.TemporaryDirectory() as tmp:
        logging.getLogger("codecarbon").setLevel(logging.ERROR)
        from codecarbon import OfflineEmissionsTracker

        cc = OfflineEmissionsTracker(
            country_iso_code="FRA", output_dir=tmp, save_to_file=False, log_level="error", measure_power_secs=1
        )
        cc.start()
        time.sleep(seconds)
        cc.stop()
        data = cc.final_emissions_data
        ram = getattr(cc, "_ram", None) or next(
            (h for h in getattr(cc, "_hardware", []) if type(h).__name__ == "RAM"), None
        )
        dimms = ram._estimate_dimm_count(out["installed_gib"]) if ram is not None else None  # noqa: SLF001
        out["codecarbon"] = {
            "ram_power_w": data.ram_power,
            "ram_energy_kwh": data.ram_energy,
            "rule": f"{dimms} estimated DIMMs x 5 W (CodeCarbon 3.3.2 external/ram.py)",
        }
        with Tracker(output_dir=os.path.join(tmp, "ww"), country_iso_code="FRA", handle_signals=False,
                     save_timeseries=False, log_level="error") as t:  # fmt: skip
            time.sleep(seconds)
        ww = t.final_emissions_data
        assert ww is not None
        info = next(i for i in t.channel_infos if i.component == "ram")
        out["wattwatch"] = {
            "ram_power_w": ww.ram_power,
            "ram_energy_kwh": ww.ram_energy,
            "rule": f"{info.details.get('charged_gib', 0):.3f} GiB installed x {info.details.get('watts_per_gb')} W/GiB",
            "method": ww.ram_method,
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.seconds)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Regenerate ``wattwatch/carbon/data/embodied/boavizta.json`` from an installed ``boaviztapi``.

wattwatch computes embodied (manufacturing) carbon with Boavizta's methodology re-implemented in
:mod:`wattwatch.carbon.embodied`, from the reference data of one boaviztapi release copied here so that a run
never imports boaviztapi (pandas + scipy: seconds of import). This script copies that data: the climate-change
(``gwp``) factors, the GPU specs, the CPU die sizes, the RAM and SSD densities and the server archetype
wattwatch assumes around the measured parts. Run it with a Python that has boaviztapi installed::

    python scripts/embodied_data.py            # writes the file; commit it with the version it names

The figures are Boavizta's (https://github.com/Boavizta/boaviztapi, AGPL-3.0), attributed in the file.
"""

from __future__ import annotations

import csv
import json
import sys
from importlib.metadata import version
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "wattwatch/carbon/data/embodied/boavizta.json"
_SERVER = "platform_compute_medium"  # boaviztapi's default server archetype (config.default_server)


def _num(text: str) -> float | None:
    text = (text or "").strip()
    return float(text) if text else None


def _triple(text: str) -> list[float]:
    """An archetype cell ``value;min;max`` (or one value) as ``[value, min, max]``."""
    parts = [float(p) for p in str(text).split(";")]
    return parts if len(parts) == 3 else [parts[0]] * 3


def main() -> int:
    import yaml
    from boaviztapi import data_dir
    from boaviztapi.compute.impacts_computation import compute_single_impact
    from boaviztapi.dto.component.cpu import CPU, mapper_cpu
    from boaviztapi.dto.component.disk import Disk, mapper_ssd
    from boaviztapi.dto.component.ram import RAM, mapper_ram

    data = Path(data_dir)
    factors = yaml.safe_load((data / "factors.yml").read_text())
    gwp = {
        k: factors[k]["gwp"]
        for k in ("cpu", "ram", "ssd", "motherboard", "power_supply", "case", "assembly", "SERVER")
    }
    gwp["gpu"] = {
        part: {phase: vals["gwp"]["impact"] for phase, vals in phases.items()}
        for part, phases in factors["gpu"].items()
    }
    gpus = []
    with open(data / "crowdsourcing/gpu_specs.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            gpus.append(
                {
                    "name": row["name"],
                    "vram_gb": _num(row["vram"]),
                    "vram_dies": _num(row["number"]),
                    "die_surface_mm2": _num(row["die_surface"]),
                    "pwb_surface_cm2": _num(row["pwb_surface"]),
                    "boat_km": _num(row["distance_boat"]),
                    "truck_km": _num(row["distance_truck"]),
                    "plane_km": _num(row["distance_plane"]),
                    "casing_kg": _num(row["mass_casing"]),
                    "heatsink_kg": _num(row["mass_heatsink"]),
                    "mass_kg": _num(row["mass"]),
                }
            )
    with open(data / "archetypes/components/gpu.csv", newline="") as fh:
        g = next(csv.DictReader(fh))
    gpu_default = {
        "name": g["name"],
        "vram_gb": float(g["vram"]),
        "vram_dies": float(g["vram_dies"]),
        "die_area_mm2": float(g["gpu_surface"]),
        "pwb_surface_cm2": float(g["pwb_surface"]),
        "boat_km": float(g["transport_boat"]),
        "truck_km": float(g["transport_truck"]),
        "plane_km": float(g["transport_plane"]),
        "casing_kg": float(g["casing_weight"]),
        "heatsink_kg": float(g["heatsink_weight"]),
        "mass_kg": float(g["weight"]),
    }
    from wattwatch.carbon.embodied import cpu_key  # the lookup key, stored so that loading needs no regex

    cpus: dict[str, list[object]] = {}
    with open(data / "crowdsourcing/cpu_specs.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            die = _num(row["total_die_size"])
            if die is None:
                continue
            threads = _num(row["threads"])
            cpus.setdefault(cpu_key(row["name"]), [row["name"], int(die), int(threads) if threads else None])
    # What boaviztapi assumes for a part it knows nothing about (computed by boaviztapi itself).
    cpu = mapper_cpu(CPU(units=1))
    compute_single_impact(cpu, "embedded", "gwp", duration=1)
    ram = mapper_ram(RAM(units=1, capacity=32))
    compute_single_impact(ram, "embedded", "gwp", duration=1)
    ssd = mapper_ssd(Disk(units=1, type="ssd", capacity=1000))
    compute_single_impact(ssd, "embedded", "gwp", duration=1)
    with open(data / "archetypes/server.csv", newline="") as fh:
        server = next(r for r in csv.DictReader(fh) if r["id"] == _SERVER)
    out = {
        "source": "Boavizta API reference data (boaviztapi package), https://github.com/Boavizta/boaviztapi",
        "license": "Boavizta's data, AGPL-3.0 (figures copied, with attribution)",
        "boaviztapi_version": version("boaviztapi"),
        "criterion": "gwp (kg CO2eq, climate change)",
        "factors": gwp,
        "gpu_default": gpu_default,
        "gpus": gpus,
        "cpu_default_die_mm2": [cpu.die_size.value, cpu.die_size.min, cpu.die_size.max],
        "cpus": cpus,
        "ram_density_gb_per_cm2": [ram.density.value, ram.density.min, ram.density.max],
        "ssd_density_gb_per_cm2": [ssd.density.value, ssd.density.min, ssd.density.max],
        "server": {
            "archetype": _SERVER,
            "ram_module_gb": _triple(server["RAM.capacity"])[0],
            "ssd_units": _triple(server["SSD.units"])[0],
            "ssd_capacity_gb": _triple(server["SSD.capacity"])[0],
            "power_supply_units": _triple(server["POWER_SUPPLY.units"])[0],
            "power_supply_kg": _triple(server["POWER_SUPPLY.unit_weight"]),
            "case_type": server["CASE.case_type"],
            "hours_life_time": _triple(server["USAGE.hours_life_time"])[0],
        },
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, separators=(",", ":"), sort_keys=False) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes) from boaviztapi {out['boaviztapi_version']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

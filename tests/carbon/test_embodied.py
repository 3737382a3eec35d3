"""Embodied carbon: wattwatch's re-implementation of Boavizta against boaviztapi's own figures."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from wattwatch.carbon.embodied import (
    HOURS_PER_YEAR,
    Hardware,
    amortise,
    embodied_for_run,
    load_data,
    manufacture_footprint,
    match_cpu,
    match_gpu,
)
from wattwatch.carbon.embodied_data import cpu_key
from wattwatch.errors import ConfigurationError
from wattwatch.result import EmissionsData

H100_SERVER = Hardware(
    gpu_models=("NVIDIA H100 80GB HBM3",) * 4,  # the name the fake NVML (and a real SXM H100) reports
    cpu_model="Intel(R) Xeon(R) Platinum 8480+",
    cpu_threads=224,
    ram_gb=1024.0,
)
CPU_SERVER = Hardware(cpu_model="AMD EPYC 7763 64-Core Processor", cpu_threads=128, ram_gb=256.0)
LIFE_H = 4 * HOURS_PER_YEAR


def _boavizta_server(hw: Hardware, cpu_name: str, sockets: int, gpu_name: str | None, hours: float):  # type: ignore[no-untyped-def]
    """boaviztapi's model of the same server: components with Boavizta's default archetype around them."""
    pytest.importorskip("boaviztapi", reason="boaviztapi not installed (pip install boaviztapi)")
    from boaviztapi.data.archetype import get_server_archetype
    from boaviztapi.dto.device.device import Server, mapper_server

    modules = math.ceil(hw.ram_gb / 32)
    config: dict = {
        "cpu": {"units": sockets, "name": cpu_name},
        "ram": [{"units": modules, "capacity": int(hw.ram_gb / modules)}],
        "disk": [{"units": 1, "type": "ssd", "capacity": 1000}],
    }
    if gpu_name:
        config["gpu"] = {"units": len(hw.gpu_models), "name": gpu_name}
    server = Server(configuration=config, usage={"hours_life_time": hours})
    return mapper_server(server, archetype=get_server_archetype("platform_compute_medium"))


def _boavizta_parts(model, hours: float) -> dict[str, tuple[float, float, float]]:  # type: ignore[no-untyped-def]
    from boaviztapi.compute.impacts_computation import compute_single_impact

    names = {"POWER_SUPPLY": "power_supply"}
    out: dict[str, tuple[float, float, float]] = {}
    for comp in model.components:
        comp.usage.hours_life_time = model.usage.hours_life_time
        imp = compute_single_impact(comp, "embedded", "gwp", hours)
        out[names.get(comp.NAME, comp.NAME.lower())] = (imp.value, imp.min, imp.max)
    return out


@pytest.mark.parametrize(
    ("hw", "cpu_name", "sockets", "gpu_name"),
    [
        (H100_SERVER, "Intel Xeon Platinum 8480+", 2, "NVIDIA H100 SXM 80GB"),  # 224 threads = 2 x 112
        (CPU_SERVER, "AMD EPYC 7763", 1, None),
    ],
    ids=["4xH100", "cpu-only"],
)
def test_every_part_matches_boaviztapi(hw: Hardware, cpu_name: str, sockets: int, gpu_name: str | None) -> None:
    """Each part's whole-life footprint (value, low, high) equals boaviztapi's for the same hardware."""
    model = _boavizta_server(hw, cpu_name, sockets, gpu_name, LIFE_H)
    theirs = _boavizta_parts(model, LIFE_H)
    ours = {p.name: p for p in manufacture_footprint(hw).parts}
    assert set(ours) == set(theirs)
    for name, (value, low, high) in theirs.items():
        assert ours[name].kg == pytest.approx(value, rel=1e-9), name
        assert ours[name].low_kg == pytest.approx(low, rel=1e-9), name
        assert ours[name].high_kg == pytest.approx(high, rel=1e-9), name


@pytest.mark.parametrize("hours", [1.0, 10.5, 720.0])
def test_run_share_matches_boaviztapi_server_embedded(hours: float) -> None:
    """A run of ``hours`` on the 4 x H100 server: the share equals boaviztapi's server 'embedded' impact."""
    pytest.importorskip("boaviztapi", reason="boaviztapi not installed")
    from boaviztapi.compute.impacts_computation import compute_single_impact

    model = _boavizta_server(H100_SERVER, "Intel Xeon Platinum 8480+", 2, "NVIDIA H100 SXM 80GB", LIFE_H)
    theirs = compute_single_impact(model, "embedded", "gwp", hours)
    ours = amortise(manufacture_footprint(H100_SERVER), hours * 3600.0)
    assert ours.kg == pytest.approx(theirs.value, rel=1e-9)
    assert ours.low_kg == pytest.approx(theirs.min, rel=1e-9)
    assert ours.high_kg == pytest.approx(theirs.max, rel=1e-9)


def test_unknown_parts_use_boaviztas_archetypes() -> None:
    pytest.importorskip("boaviztapi", reason="boaviztapi not installed")
    from boaviztapi.compute.impacts_computation import compute_single_impact
    from boaviztapi.dto.component.cpu import CPU, mapper_cpu
    from boaviztapi.dto.component.gpu import GPU, mapper_gpu

    hw = Hardware(gpu_models=("Imaginary GPU 9000",), cpu_model="Imaginary CPU", cpu_threads=8, ram_gb=32)
    ours = {p.name: p for p in manufacture_footprint(hw).parts}
    gpu = compute_single_impact(mapper_gpu(GPU(units=1)), "embedded", "gwp", LIFE_H)
    cpu = compute_single_impact(mapper_cpu(CPU(units=1)), "embedded", "gwp", 26280)  # its own lifetime: whole
    assert ours["gpu"].kg == pytest.approx(gpu.value, rel=1e-9)
    assert (ours["cpu"].kg, ours["cpu"].low_kg, ours["cpu"].high_kg) == pytest.approx(
        (cpu.value, cpu.min, cpu.max), rel=1e-9
    )
    assert "Imaginary GPU 9000 unknown" in ours["gpu"].spec


@pytest.mark.parametrize(
    ("nvml", "spec"),
    [
        ("NVIDIA H100 80GB HBM3", "NVIDIA H100 SXM 80GB"),
        ("NVIDIA H100 PCIe", "NVIDIA H100 PCIe 80GB"),
        ("NVIDIA H100 NVL", "NVIDIA H100 NVL 94GB"),
        ("NVIDIA A100-SXM4-80GB", "NVIDIA A100 SXM4 80GB"),
        ("NVIDIA A100-SXM4-40GB", "NVIDIA A100 SXM4 40GB"),
        ("NVIDIA A100-PCIE-40GB", "NVIDIA A100 PCIe 40GB"),
        ("NVIDIA A100 80GB PCIe", "NVIDIA A100 PCIe 80GB"),
        ("Tesla V100-SXM2-32GB", "NVIDIA Tesla V100 SXM2 32GB"),
        ("Tesla T4", "NVIDIA T4"),
        ("NVIDIA A10G", "NVIDIA A10"),
        ("NVIDIA L4", "NVIDIA L4"),
        ("NVIDIA L40S", "NVIDIA L40S 48GB"),
        ("NVIDIA H200", "NVIDIA H200 SXM 141GB"),
    ],
)
def test_gpu_names_as_nvml_reports_them(nvml: str, spec: str) -> None:
    found = match_gpu(nvml)
    assert found is not None and found["name"] == spec


def test_unknown_gpu_name_is_none() -> None:
    assert match_gpu("NVIDIA GeForce RTX 4090") is None


@pytest.mark.parametrize(
    ("cpuinfo", "name"),
    [
        ("Intel(R) Xeon(R) Platinum 8480+", "Intel Xeon Platinum 8480+"),
        ("AMD EPYC 7763 64-Core Processor", "AMD EPYC 7763"),
        ("AMD EPYC 7B13", None),  # in Boavizta's table without a die size: its average applies
        ("AMD EPYC", None),  # no model number: Boavizta's average, not a guess
        ("Intel(R) Xeon(R) CPU @ 2.20GHz", None),
        ("", None),
    ],
)
def test_cpu_names_as_cpuinfo_reports_them(cpuinfo: str, name: str | None) -> None:
    found = match_cpu(cpuinfo)
    assert (found[0] if found else None) == name


def test_each_gpu_rule_s_substring_is_in_every_name_its_expression_matches() -> None:
    """The substring test before each expression must never skip a match: every alternative of the expression
    starts (after a word boundary) with the substring, which holds no regular-expression syntax."""
    import re

    from wattwatch.carbon.embodied_data import _GPU_RULES

    for literal, pattern, _spec in _GPU_RULES:
        assert literal and re.escape(literal) == literal.replace(" ", "\\ ")
        for alternative in pattern.split("|"):
            assert alternative.removeprefix(r"\b").startswith(literal), (literal, pattern)


def _longest_whole_name_match(name: str) -> tuple[str, int, int | None] | None:
    """match_cpu's rule written out over the whole table: the exact key, else the longest name (ties: the first
    in sorted order) whose words all occur in the normalised name and which has a model number."""
    data = load_data()
    key = cpu_key(name)
    if key in data.cpu_index:
        return data.cpu_index[key]
    words = set(key.split())
    best, best_len = None, 0
    for spec_key in sorted(data.cpu_index):
        spec_words = spec_key.split()
        has_number = any(any(ch.isdigit() for ch in w) for w in spec_words)
        if has_number and set(spec_words) <= words and len(spec_words) > best_len:
            best, best_len = data.cpu_index[spec_key], len(spec_words)
    return best


def test_cpu_matching_equals_the_rule_over_the_whole_table() -> None:
    data = load_data()
    names = [
        "Intel(R) Xeon(R) Platinum 8480+",
        "AMD EPYC 7763 64-Core Processor",
        "Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz",
        "Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz",
        "AMD Ryzen 9 5950X 16-Core Processor",
        "Intel(R) Core(TM) i7-10700K CPU @ 3.80GHz",
        "AMD EPYC 9654 96-Core Processor",
        "Some Vendor 1234 Chip",
    ]
    names += [spec_name + " extra words 2" for spec_name, _die, _threads in list(data.cpu_index.values())[::37]]
    for name in names:
        assert match_cpu(name, data) == _longest_whole_name_match(name), name


def test_share_is_duration_over_lifetime_times_use_ratio() -> None:
    fp = manufacture_footprint(H100_SERVER)
    hour = amortise(fp, 3600.0, lifetime_years=4, use_ratio=1.0)
    assert hour.kg == pytest.approx(fp.kg / (4 * 8760))
    half = amortise(fp, 3600.0, lifetime_years=4, use_ratio=0.5)
    assert half.kg == pytest.approx(2 * hour.kg)  # busy half its life: twice the share per hour
    longer = amortise(fp, 3600.0, lifetime_years=6)
    assert longer.kg == pytest.approx(fp.kg / (6 * 8760))
    assert amortise(fp, 10 * 8760 * 3600.0).kg == pytest.approx(fp.kg)  # never more than the whole
    assert sum(hour.by_part.values()) == pytest.approx(hour.kg)
    assert "lifetime_y=4" in hour.source and "use_ratio=1" in hour.source
    assert "data=boaviztapi-" + load_data().version in hour.source


@pytest.mark.parametrize(("life", "ratio"), [(0, 1.0), (-1, 1.0), (float("nan"), 1.0), (4, 0.0), (4, 1.5)])
def test_bad_lifetime_or_use_ratio_is_a_configuration_error(life: float, ratio: float) -> None:
    with pytest.raises(ConfigurationError, match="embodied"):
        amortise(manufacture_footprint(CPU_SERVER), 60.0, lifetime_years=life, use_ratio=ratio)


def test_a_slice_of_a_host_is_charged_its_share_of_cpu_and_server() -> None:
    """2 of the EPYC 7763's 128 threads: CPU and server base x 2/128; the RAM the VM saw, whole."""
    whole = {p.name: p.kg for p in manufacture_footprint(Hardware(cpu_model=CPU_SERVER.cpu_model, cpu_threads=128, ram_gb=8)).parts}
    vm = manufacture_footprint(Hardware(cpu_model=CPU_SERVER.cpu_model, cpu_threads=2, ram_gb=8))
    assert vm.host_share == pytest.approx(2 / 128)
    for p in vm.parts:
        expected = whole[p.name] if p.name == "ram" else whole[p.name] * 2 / 128
        assert p.kg == pytest.approx(expected), p.name


def test_hardware_from_a_row() -> None:
    row = EmissionsData(
        gpu_count=5,
        gpu_model="4 x NVIDIA H100 80GB HBM3, 1 x NVIDIA L4",
        cpu_model="AMD EPYC 7763 64-Core Processor",
        cpu_count=256,
        ram_total_size=512.0,
        node_count=2,
        duration=7200.0,
    )
    hw = Hardware.from_emissions(row)
    assert hw.gpu_models == ("NVIDIA H100 80GB HBM3",) * 4 + ("NVIDIA L4",)
    assert (hw.cpu_threads, hw.ram_gb, hw.nodes) == (128, 256.0, 2)
    share = embodied_for_run(row)
    fp = manufacture_footprint(hw)
    assert share.kg == pytest.approx(fp.kg * 7200 / (4 * 8760 * 3600))
    assert {p.spec for p in fp.parts if p.name == "gpu"} == {"NVIDIA H100 SXM 80GB", "NVIDIA L4"}


def test_import_does_not_load_heavy_libraries() -> None:
    code = (
        "import sys, wattwatch.carbon.embodied as e;"
        "e.embodied_for_run(e.EmissionsData(cpu_model='AMD EPYC 7763', duration=60.0));"
        "print(sorted(m for m in ('pandas', 'scipy', 'boaviztapi', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_shipped_cpu_keys_are_the_lookup_keys() -> None:
    """The data file stores each CPU under cpu_key(name) (no regex at load): the two must agree."""
    from wattwatch.carbon.embodied import cpu_key

    index = load_data().cpu_index
    assert len(index) > 1000
    assert all(cpu_key(name) == key for key, (name, _, _) in index.items())

"""benchmarks/gpu_validate.py on AMD: the amdsmi reader against the fake libamd_smi.so (through the real binding),
vendor detection, and the per-vendor GPU sections of RESULTS.md."""

from __future__ import annotations

import math
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path

import pytest
from fakeamdsmi import Constant, FakeAmdGpu, FakeAmdSmi

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks import gpu_validate  # noqa: E402


def test_amd_reader_reads_the_counter_and_both_powers(fake_amdsmi: Callable[..., FakeAmdSmi]) -> None:
    # HIP numbers the GPUs in reverse of amdsmi's order here: HIP device 0 is amdsmi's GPU 1.
    rig = fake_amdsmi(
        [
            FakeAmdGpu(trace=(Constant(111.0),), hip_id=1),
            FakeAmdGpu(trace=(Constant(222.0),), hip_id=0, average=False),
        ]
    )
    name, read = gpu_validate.amd_reader(0)
    assert name == "AMD Instinct MI300X"
    b1 = time.monotonic()
    e1, inst, avg = read()
    a1 = time.monotonic()
    time.sleep(0.1)
    b2 = time.monotonic()
    e2, _, _ = read()
    a2 = time.monotonic()
    assert inst == 222.0 and math.isnan(avg)
    assert rig.energy_j(1, a1, b2) - 1e-4 <= e2 - e1 <= rig.energy_j(1, b1, a2) + 1e-4


def test_vendor_detection() -> None:
    rocm = types.SimpleNamespace(version=types.SimpleNamespace(hip="6.2.41133", cuda=None))
    cuda = types.SimpleNamespace(version=types.SimpleNamespace(hip=None, cuda="12.4"))
    assert gpu_validate.detect_vendor(rocm) == "amd"
    assert gpu_validate.detect_vendor(cuda) == "nvidia"


def test_each_vendor_keeps_its_own_gpu_section(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    path.write_text("# results\n\n## GPU\n\nnot yet run (needs a GPU).\n")
    gpu_validate.write_gpu_section("amd numbers", path=path, vendor="amd")
    assert path.read_text().endswith("## GPU\n\n### AMD\n\namd numbers\n")
    gpu_validate.write_gpu_section("nvidia numbers", path=path, vendor="nvidia")
    gpu_validate.write_gpu_section("amd numbers 2", path=path, vendor="amd")
    text = path.read_text()
    assert text.startswith(
        "# results\n\n## GPU\n\n### NVIDIA\n\nnvidia numbers\n\n### AMD\n\namd numbers 2\n"
    )
    assert text.count("## GPU") == 1 and "not yet run" not in text


def test_an_older_nvidia_only_section_is_kept_as_nvidia(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    path.write_text("# results\n\n## GPU\n\nWritten by gpu_validate on an H100.\n")
    gpu_validate.write_gpu_section("amd numbers", path=path, vendor="amd")
    assert "### NVIDIA\n\nWritten by gpu_validate on an H100.\n\n### AMD\n\namd numbers\n" in path.read_text()


def test_render_names_amdsmi_fields() -> None:
    text = gpu_validate.render("MI300X", {"0.01": {"instant": 0.001, "average": math.nan}}, {}, {}, "amd")
    assert "amdsmi energy counter" in text and "current_socket_power" in text


@pytest.mark.parametrize("vendor", ["nvidia", "amd"])
def test_render_both_vendors(vendor: str) -> None:
    assert "+0.00 %" in gpu_validate.render("G", {"1": {"instant": 0.0, "average": 0.0}}, {}, {}, vendor)

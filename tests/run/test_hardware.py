"""Hardware discovery: the GPU sensor opens in its own thread while the host's sensors open, errors from either
side reach the caller with the other side closed, and a single-process run never loads the rank machinery."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from fakenvml import FakeNvml
from fakesensors import ConstantPowerSensor

from wattwatch.run.hardware import open_together
from wattwatch.sensors.base import Sensor
from wattwatch.util.background import Background


class Closing(ConstantPowerSensor):
    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_gpus_open_while_the_host_opens() -> None:
    host_started = threading.Event()
    seen: dict[str, object] = {}

    def open_gpus() -> list[Sensor]:
        seen["gpu_thread"] = threading.current_thread().name
        # Returns only once the host side has begun: opened one after the other, this would never be true.
        seen["overlap"] = host_started.wait(timeout=60)
        return [Closing(component="gpu")]

    def open_host() -> list[Sensor]:
        host_started.set()
        seen["host_thread"] = threading.current_thread().name
        return [Closing(component="cpu"), Closing(component="ram")]

    sensors = open_together(open_gpus, open_host)
    assert seen["overlap"] is True
    assert (
        seen["gpu_thread"] == "wattwatch-open-gpus" and seen["host_thread"] == threading.current_thread().name
    )
    assert [s.describe()[0].component for s in sensors] == [
        "gpu",
        "cpu",
        "ram",
    ]  # GPU channels first, as before


def test_a_gpu_error_closes_the_host_sensors_and_reaches_the_caller() -> None:
    host = [Closing(component="cpu")]

    def bad_gpus() -> list[Sensor]:
        raise ValueError("gpu_ids 7 matches no GPU")

    with pytest.raises(ValueError, match="matches no GPU"):
        open_together(bad_gpus, lambda: list(host))
    assert host[0].closed


def test_a_host_error_closes_the_gpu_sensor_and_reaches_the_caller() -> None:
    gpu = Closing(component="gpu")

    def bad_host() -> list[Sensor]:
        raise ValueError("bad powercap root")

    with pytest.raises(ValueError, match="powercap"):
        open_together(lambda: [gpu], bad_host)
    assert gpu.closed


def test_nothing_to_open() -> None:
    assert open_together(None, None) == []
    only = Closing(component="gpu")
    assert open_together(lambda: [only], None) == [only]


def test_background_returns_or_raises_in_the_caller() -> None:
    assert Background(lambda: 42, name="t").result() == 42
    with pytest.raises(KeyError):
        Background(lambda: {}["x"], name="t").result()


def _loaded_by_a_cycle(tracker_args: str, modules: tuple[str, ...]) -> list[str]:
    """Which of ``modules`` a fresh process has loaded after ``Tracker(<tracker_args>)``, ``start()``, ``stop()``."""
    code = (
        "import sys\n"
        "from wattwatch import Tracker\n"
        f"t = Tracker({tracker_args})\n"
        "t.start(); t.stop()\n"
        f"print(sorted(m for m in {modules!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return list(ast.literal_eval(out.strip().splitlines()[-1]))


def test_single_process_start_loads_no_rank_machinery_nor_psutil(tmp_path: Path) -> None:
    """A plain run's start/stop imports neither the distributed aggregator (and its file lock) nor psutil
    (host facts come from the os module on Linux), nor what only errors, hourly files or uuid's platform
    checks need."""
    if not sys.platform.startswith("linux"):
        pytest.skip("psutil is the host-facts source off Linux")
    args = (
        f"output_dir={str(tmp_path)!r}, country_iso_code='FRA', handle_signals=False, environ={{}}, "
        "nvml_library='/nonexistent/libnvidia-ml.so.1'"
    )
    slow = ("psutil", "wattwatch.distributed.aggregator", "socket", "uuid", "statistics", "difflib")
    assert _loaded_by_a_cycle(args, slow) == []


def test_a_vm_without_hwmon_gpus_loads_neither_rapl_nor_hwmon_nor_openssl(tmp_path: Path) -> None:
    """What a cloud VM's start/stop does not need stays unloaded (each costs milliseconds of every start): RAPL
    (a VM models its vCPUs), the hwmon GPU sensor (no GPU driver in hwmon), pynvml (no NVIDIA library to load),
    hashlib/OpenSSL, the filelock package, tempfile, importlib.resources."""
    if not sys.platform.startswith("linux"):
        pytest.skip("Linux sysfs layout")
    dmi = tmp_path / "dmi"
    dmi.mkdir()
    (dmi / "sys_vendor").write_text("QEMU\n")
    hwmon = tmp_path / "hwmon" / "hwmon0"
    hwmon.mkdir(parents=True)
    (hwmon / "name").write_text("k10temp\n")  # a CPU temperature sensor: not a GPU driver
    args = (
        f"output_dir={str(tmp_path / 'out')!r}, country_iso_code='FRA', handle_signals=False, environ={{}}, "
        f"nvml_library='/nonexistent/libnvidia-ml.so.1', dmi_root={str(dmi)!r}, hwmon_root={str(hwmon.parent)!r}, "
        f"cgroup_root={str(tmp_path / 'no-cgroup')!r}"
    )
    slow = ("wattwatch.sensors.rapl", "wattwatch.sensors.hwmon", "hashlib", "_hashlib", "filelock", "tempfile",
            "importlib.resources", "pynvml")  # fmt: skip
    assert _loaded_by_a_cycle(args, slow) == []


def _skip_unless_no_nvidia_library() -> None:
    """Skip where the dynamic linker finds ``libnvidia-ml.so.1`` (or off Linux): these tests need a host without."""
    import ctypes

    if not sys.platform.startswith("linux"):
        pytest.skip("pynvml loads libnvidia-ml.so.1 by name on Linux only")
    try:
        ctypes.CDLL("libnvidia-ml.so.1")
        pytest.skip("this machine has an NVIDIA library")
    except OSError:
        pass


@pytest.mark.parametrize("pynvml_first", [False, True], ids=["wattwatch alone", "pynvml imported first"])
def test_no_nvidia_driver_is_info_whoever_imported_pynvml(tmp_path: Path, pynvml_first: bool) -> None:
    """A CPU-only host: no GPU energy is one INFO line, never a WARNING -- also when another library (CodeCarbon)
    imported pynvml before the tracker started (it used to skip the driver check and warn ``nvmlInit failed``)."""
    _skip_unless_no_nvidia_library()
    code = (
        "import sys, logging\n"
        + ("import pynvml\n" if pynvml_first else "")
        + "logging.basicConfig(level=logging.INFO, format='%(levelname)s %(name)s: %(message)s')\n"
        "from wattwatch import Tracker\n"
        f"t = Tracker(output_dir={str(tmp_path)!r}, country_iso_code='FRA', handle_signals=False, environ={{}},\n"
        "            log_level='info')\n"
        "t.start(); t.stop()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    gpu_lines = [line for line in done.stderr.splitlines() if "NVML" in line or "GPU energy" in line]
    assert gpu_lines and all(line.startswith("INFO") for line in gpu_lines), done.stderr
    assert "NVML Shared Library Not Found" in done.stderr and "nvmlInit failed" not in done.stderr


@pytest.mark.parametrize("pynvml_first", [False, True], ids=["wattwatch alone", "pynvml imported first"])
def test_a_driver_whose_start_fails_is_a_warning_whoever_imported_pynvml(
    tmp_path: Path, fake_nvml: Callable[..., FakeNvml], pynvml_first: bool
) -> None:
    """The driver's library is there (found by name, as pynvml finds it) but ``nvmlInit`` fails: a WARNING with
    the reason, in either import order."""
    from fakenvml import FakeGpu

    rig = fake_nvml([FakeGpu()], init_error=9)  # NVML_ERROR_DRIVER_NOT_LOADED
    code = (
        "import sys, logging\n"
        + ("import pynvml\n" if pynvml_first else "")
        + "logging.basicConfig(level=logging.INFO, format='%(levelname)s %(name)s: %(message)s')\n"
        "from wattwatch import Tracker\n"
        f"t = Tracker(output_dir={str(tmp_path)!r}, country_iso_code='FRA', handle_signals=False, environ={{}})\n"
        "t.start(); t.stop()\n"
    )
    env = {**os.environ, **rig.env}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert any(line.startswith("WARNING") and "nvmlInit failed" in line for line in done.stderr.splitlines()), done.stderr


def test_without_an_nvidia_library_pynvml_is_not_imported(tmp_path: Path) -> None:
    """No ``libnvidia-ml.so.1`` for the dynamic linker: no NVIDIA driver, so the NVML sensor says so without
    importing pynvml (~10 ms of every start on CPU-only and AMD hosts)."""
    _skip_unless_no_nvidia_library()
    code = (
        "import sys, logging\n"
        "logging.basicConfig(level=logging.INFO)\n"
        "from wattwatch import Tracker\n"
        f"t = Tracker(output_dir={str(tmp_path)!r}, country_iso_code='FRA', handle_signals=False, environ={{}},\n"
        "            log_level='info')\n"
        "t.start(); t.stop()\n"
        "print('pynvml' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "False"
    assert "NVML Shared Library Not Found" in done.stderr

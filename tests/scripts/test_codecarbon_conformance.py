"""scripts/codecarbon_conformance.py: it finds an sdist or skips with the reason, and rewrites what a switcher
changes (the five public names) plus the two CodeCarbon mocks it maps to wattwatch's seams -- nothing else.

The full run (CodeCarbon's tests, about a minute) is measured by hand and reported in docs/codecarbon.md."""

from __future__ import annotations

import importlib.util
import sys
import tarfile
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "codecarbon_conformance.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("codecarbon_conformance", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["codecarbon_conformance"] = module
    spec.loader.exec_module(module)
    return module


def test_without_a_source_it_skips_and_says_how_to_get_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("WATTWATCH_CODECARBON_SOURCE", raising=False)
    assert _load().main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("SKIP: no CodeCarbon source given") and "pip download --no-deps --no-binary" in out


def test_a_folder_without_tests_is_refused_with_the_reason(tmp_path: Path) -> None:
    source, why = _load().locate_source(tmp_path)
    assert source is None and "has no tests/ folder" in why


def test_an_sdist_archive_is_unpacked(tmp_path: Path) -> None:
    root = tmp_path / "codecarbon-3.3.2"
    (root / "tests").mkdir(parents=True)
    (root / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: codecarbon\nVersion: 3.3.2\n")
    archive = tmp_path / "codecarbon-3.3.2.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root, arcname=root.name)
    module = _load()
    source, why = module.locate_source(archive)
    assert source is not None and why == "" and (source / "tests").is_dir()
    assert module._source_version(source) == "3.3.2"


def test_rewrite_points_the_public_names_and_the_two_seams_at_wattwatch() -> None:
    module = _load()
    source = (
        "from codecarbon.core.config import parse_gpu_ids\n"
        "from codecarbon.emissions_tracker import (\n    EmissionsTracker,\n    OfflineEmissionsTracker,\n)\n"
        "from codecarbon.output import OutputMethod\n"
        '@mock.patch.object(cpu, "is_psutil_available")\n'
        '@mock.patch("codecarbon.external.hardware.SystemCPULoadMeter.percent", return_value=50.0)\n'
        'patch("codecarbon.emissions_tracker.EmissionsTracker")\n'
    )
    out = module.rewrite_imports(source)
    assert "from wattwatch import EmissionsTracker, OfflineEmissionsTracker" in out
    assert "from codecarbon.core.config import parse_gpu_ids" in out  # CodeCarbon's helpers stay CodeCarbon's
    assert "from codecarbon.output import OutputMethod" in out
    assert 'mock.patch("wattwatch.sensors.codecarbon_cpu.cpu_load_available")' in out
    assert '"wattwatch.sensors.codecarbon_cpu.SystemCpuLoad.percent"' in out
    assert 'patch("wattwatch.compat.decorators.EmissionsTracker")' in out


def test_every_seam_exists_in_wattwatch() -> None:
    import wattwatch.sensors.codecarbon_cpu as seams

    for target in _load().SEAMS.values():
        dotted = target.split('"')[1]
        assert dotted.startswith("wattwatch.sensors.codecarbon_cpu.")
        obj: object = seams
        for part in dotted.removeprefix("wattwatch.sensors.codecarbon_cpu.").split("."):
            obj = getattr(obj, part)
        assert callable(obj)

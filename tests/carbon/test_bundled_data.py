"""CodeCarbon's emission factors ship inside wattwatch: place names work without CodeCarbon or pandas."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from wattwatch.carbon.codecarbon_data import (
    BUNDLED_DATA_DIR,
    DATA_ENV,
    DATA_FILES,
    DATA_VERSION,
    codecarbon_data_dir,
    codecarbon_version,
    installed_codecarbon_data_dir,
    require_data_file,
)

ROOT = Path(__file__).resolve().parents[2]


def test_every_file_the_lookups_read_is_bundled_with_the_licence() -> None:
    for relative in DATA_FILES:
        assert (BUNDLED_DATA_DIR / relative).is_file(), relative
    licence = (BUNDLED_DATA_DIR / "LICENSE-codecarbon").read_text()
    assert "MIT License" in licence and "Code Carbon" in licence
    shipped = {p.relative_to(BUNDLED_DATA_DIR).as_posix() for p in BUNDLED_DATA_DIR.rglob("*") if p.is_file()}
    from_codecarbon = {p for p in shipped if p.split("/")[0] in ("private_infra", "cloud", "hardware")}
    assert from_codecarbon == set(DATA_FILES), "ship only the CodeCarbon files the lookups read"


@pytest.mark.skipif(codecarbon_version() != DATA_VERSION, reason=f"needs codecarbon=={DATA_VERSION} installed")
def test_bundled_files_are_codecarbon_files_unchanged() -> None:
    installed = installed_codecarbon_data_dir()
    assert installed is not None
    for relative in DATA_FILES:
        assert (BUNDLED_DATA_DIR / relative).read_bytes() == (installed / relative).read_bytes(), relative


def test_bundled_copy_is_preferred_and_the_user_can_choose(tmp_path: Path) -> None:
    assert codecarbon_data_dir({}) == BUNDLED_DATA_DIR
    assert codecarbon_data_dir({DATA_ENV: str(tmp_path)}) == tmp_path
    assert codecarbon_data_dir({DATA_ENV: "installed"}) == installed_codecarbon_data_dir()
    assert require_data_file("cloud/impact.csv") == BUNDLED_DATA_DIR / "cloud/impact.csv"
    with pytest.raises(FileNotFoundError, match=DATA_ENV):
        require_data_file("cloud/impact.csv", tmp_path)


def test_pyproject_ships_the_data_as_package_data() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    assert '"wattwatch.carbon" = [' in text
    from setuptools import Distribution  # the package-data globs must match every bundled file

    try:
        import tomllib
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10
        pytest.skip("tomllib needs Python 3.11")
    globs = tomllib.loads(text)["tool"]["setuptools"]["package-data"]["wattwatch.carbon"]
    matched = {p.relative_to(BUNDLED_DATA_DIR.parent).as_posix() for g in globs for p in BUNDLED_DATA_DIR.parent.glob(g)}
    for relative in [*DATA_FILES, "LICENSE-codecarbon"]:
        assert f"data/{relative}" in matched, relative
    assert Distribution  # setuptools is importable: the build backend the globs are written for


def test_place_names_work_without_codecarbon_or_pandas(tmp_path: Path) -> None:
    """The README's first example with codecarbon and pandas made unimportable (the base install)."""
    blocker = tmp_path / "block"
    blocker.mkdir()
    for name in ("codecarbon", "pandas"):
        (blocker / f"{name}.py").write_text(f"raise ImportError('{name} is not installed in this test')\n")
    code = textwrap.dedent(
        f"""
        import sys
        from wattwatch import Tracker
        from fakesensors import ConstantPowerSensor
        with Tracker(project_name="llm-finetune", country_iso_code="FRA", output_dir={str(tmp_path)!r},
                     sensors=[ConstantPowerSensor()], handle_signals=False) as tracker:
            pass
        data = tracker.final_emissions_data
        assert data.country_name == "France", data.country_name
        assert "pandas" not in sys.modules and "codecarbon" not in sys.modules
        print("ok", data.country_iso_code)
        """
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(blocker), str(ROOT / "tests" / "support")]))
    env.pop(DATA_ENV, None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok FRA"

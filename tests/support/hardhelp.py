"""Helpers shared by the hardening suite (the parent conftest's fixtures -- fake NVML -- apply here too)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

from wattwatch.result import COLUMNS

REPO = Path(__file__).resolve().parents[2]
TESTS = REPO / "tests" / "support"


def fill_disk(folder: Path) -> Path:
    """Fill the file system holding ``folder``; returns the filler file (unlink it to free the space)."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"x" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
    return filler


def csv_rows(path: Path) -> list[dict[str, str]]:
    """Every row of ``path``; asserts the file parses and that no row is partial (all columns, no extras)."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header = list(reader.fieldnames or [])
        rows = list(reader)
    assert header[: len(COLUMNS)] == list(COLUMNS), "header damaged"
    for row in rows:
        assert None not in row, f"row with extra cells: {row}"
        assert all(v is not None for v in row.values()), f"partial row: {row}"
        assert row["run_id"] and row["status"] in {"running", "completed", "failed", "interrupted"}, row
        float(row["energy_consumed"])
    return rows


def run_python(
    code: str, *, timeout: float = 60, env: dict[str, str] | None = None, **kw: object
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter with ``tests/`` importable; returns the completed process."""
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = os.pathsep.join([str(TESTS), str(REPO), full_env.get("PYTHONPATH", "")])
    if env:
        full_env.update(env)
    return subprocess.run(  # type: ignore[call-overload,no-any-return]
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=full_env, **kw
    )


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), str(REPO), env.get("PYTHONPATH", "")])
    return env

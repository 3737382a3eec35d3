"""Shared fixtures: the fake NVML library (tests/support/fakenvml.py), the fake amdsmi library
(tests/support/fakeamdsmi.py), a tiny tmpfs for the full-disk tests, and the check every row a test's trackers
write must pass (``wattwatch check``'s, issue 24: a new feature cannot break an invariant silently)."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import fakeamdsmi
import fakenvml
import pytest
from fakeamdsmi import FakeAmdGpu, FakeAmdSmi
from fakenvml import FakeGpu, FakeNvml


@pytest.fixture(scope="session")
def fake_nvml_library() -> Path:
    """Path to the compiled fake ``libnvidia-ml.so.1`` (built once, cached by source hash)."""
    try:
        return fakenvml.build_library(fakenvml.default_build_dir())
    except RuntimeError as exc:
        pytest.skip(f"fake NVML unavailable: {exc}")


@pytest.fixture
def fake_nvml(
    fake_nvml_library: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., FakeNvml]:
    """Factory: ``fake_nvml(gpus, *, t0=None, init_error=None) -> FakeNvml``.

    Writes a config for ``gpus`` and sets ``$FAKE_NVML_CONFIG`` for this test; the fake re-reads it at the next
    ``nvmlInit`` (so construct sensors after calling the factory).
    """

    def install(
        gpus: Sequence[FakeGpu], *, t0: float | None = None, init_error: int | None = None
    ) -> FakeNvml:
        env: dict[str, str] = {}
        rig = fakenvml.install(tmp_path, gpus, fake_nvml_library, environ=env, t0=t0, init_error=init_error)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        return rig

    return install


@pytest.fixture
def fake_square_gpus(fake_nvml: Callable[..., FakeNvml]) -> FakeNvml:
    """Four H100s with staggered 80/350 W square waves (period 2.3 s), energy counters on.

    Unpacks as ``library_path, gpus, t0 = fake_square_gpus``.
    """
    return fake_nvml(fakenvml.square_wave_gpus(n=4, low_w=80, high_w=350, period_s=2.3))


@pytest.fixture(autouse=True)
def _wattwatch_loggers() -> Iterator[None]:
    """Every test starts with the ``wattwatch`` loggers enabled at their default level: a
    ``Tracker(log_level=...)`` in an earlier test sets the level process-wide (as CodeCarbon does), and a library
    that calls ``logging.config.dictConfig`` disables every logger that exists by then; either would hide the
    warnings a later test counts."""
    manager = logging.Logger.manager
    loggers = [logging.getLogger("wattwatch")] + [
        logger
        for name, logger in list(manager.loggerDict.items())
        if name.startswith("wattwatch.") and isinstance(logger, logging.Logger)
    ]
    saved = [(logger, logger.level, logger.disabled) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.NOTSET)
        logger.disabled = False
    yield
    for logger, level, disabled in saved:
        logger.setLevel(level)
        logger.disabled = disabled


@pytest.fixture(autouse=True)
def _own_tracker_registry(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's machine-mode trackers (and the subprocesses it starts) list themselves in a host registry
    of their own (:mod:`wattwatch.run.host_registry`), never the real per-user one: tests running in parallel
    would otherwise see each other's trackers as overlapping runs."""
    folder = tmp_path_factory.mktemp("registry") / "trackers"
    monkeypatch.setenv("WATTWATCH_REGISTRY_DIR", str(folder))
    return folder


# ---------------------------------------------------------------------------------------------- fake amdsmi


@pytest.fixture(scope="session")
def fake_amdsmi_library() -> Path:
    """Path to the compiled fake ``libamd_smi.so`` for the installed amdsmi binding (built once, cached)."""
    try:
        return fakeamdsmi.build_library(fakeamdsmi.default_build_dir())
    except RuntimeError as exc:
        pytest.skip(f"fake amdsmi unavailable: {exc}")


@pytest.fixture
def fake_amdsmi(
    fake_amdsmi_library: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., FakeAmdSmi]:
    """Factory: ``fake_amdsmi(gpus, *, t0=None, init_error=None) -> FakeAmdSmi``.

    Sets ``$FAKE_AMDSMI_CONFIG`` and ``$ROCM_HOME`` (where the real amdsmi binding looks for ``libamd_smi.so``
    when first imported) for this test; construct sensors after calling it.
    """

    def install(
        gpus: Sequence[FakeAmdGpu], *, t0: float | None = None, init_error: int | None = None
    ) -> FakeAmdSmi:
        env: dict[str, str] = {}
        rig = fakeamdsmi.install(tmp_path, gpus, fake_amdsmi_library, environ=env, t0=t0, init_error=init_error)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        for key in ("ROCR_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES", "ROCM_PATH"):
            monkeypatch.delenv(key, raising=False)
        return rig

    return install


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs, to fill the disk for real (needs root and mount rights; skipped elsewhere -- the
    RLIMIT_FSIZE tests cover that case)."""
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


# ---------------------------------------------------------------------------------------------- every row checked


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "rows_unchecked(reason): the test writes inconsistent wattwatch rows on purpose (seeded faults, tampering); "
        "its files are not checked",
    )


@pytest.fixture(autouse=True)
def _rows_agree(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test that used ``tmp_path``: every row wattwatch wrote under it (emissions files, journals, time
    series) passes ``wattwatch check`` (:mod:`wattwatch.report.check`); a disagreement fails the test. Rows a
    test made up itself (no ``wattwatch_version``) are not wattwatch's, and are left alone."""
    yield
    tmp = request.node.funcargs.get("tmp_path") if hasattr(request.node, "funcargs") else None
    if tmp is None or request.node.get_closest_marker("rows_unchecked") is not None:
        return
    folder = Path(tmp)
    if not folder.is_dir() or not any(folder.rglob("*.csv")) and not any(folder.rglob("*.json")):
        return
    from wattwatch.report.check import check_paths

    try:
        report = check_paths([str(folder)], ours_only=True)
    except (OSError, ValueError):
        return  # a folder the test left unreadable on purpose
    if report.problems:
        pytest.fail("rows written by wattwatch disagree with their energy (wattwatch check):\n" + "\n".join(
            str(p) for p in report.problems[:20]))  # fmt: skip

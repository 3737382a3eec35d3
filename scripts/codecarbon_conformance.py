#!/usr/bin/env python3
"""Run CodeCarbon's own tests of public behaviour, and its offline examples, against wattwatch's names.

    pip download --no-deps --no-binary :all: codecarbon==3.3.2 -d /tmp/cc332      # once: the sdist ships tests/
    python scripts/codecarbon_conformance.py /tmp/cc332/codecarbon-3.3.2.tar.gz    # tests against wattwatch
    python scripts/codecarbon_conformance.py SOURCE --baseline   # the same tests against CodeCarbon itself
    python scripts/codecarbon_conformance.py SOURCE --examples   # its offline examples too (git checkout only)
    python scripts/codecarbon_conformance.py SOURCE --fixtures /path/to/codecarbon-checkout

SOURCE is CodeCarbon's sdist (``codecarbon-X.Y.Z.tar.gz``, or the folder it unpacks to) or a git checkout; without
it, ``$WATTWATCH_CODECARBON_SOURCE`` is used. The script fetches nothing: with neither, or without ``codecarbon``
installed in this interpreter (its tests import its fixtures and output classes), it prints ``SKIP`` and the reason
and exits 0. The sdist leaves out two fixture folders the tests import, ``tests/fake_modules`` (a fake ``pynvml``)
and ``tests/test_data`` (CSV files): ``--fixtures`` takes them from a git checkout of CodeCarbon (any recent
release; the fixtures barely change); without them the tests that need them are reported ``SKIP`` and left out
of the count.

Nothing of CodeCarbon is copied into this repository: the script copies ``tests/`` into a temporary folder,
rewrites the imports of the public names wattwatch provides (``EmissionsTracker``, ``OfflineEmissionsTracker``,
``track_emissions``, ...) to ``wattwatch``, leaves every other ``codecarbon`` import alone (its handler classes,
its test fixtures), and runs pytest in this interpreter (our venv, where ``codecarbon`` is installed for its output
classes and fixtures) with ``CODECARBON_ALLOW_MULTIPLE_RUNS=True``, as CodeCarbon's own ``test-package`` task
does. CodeCarbon's tests also need ``responses`` and ``pandas`` (``pip install responses``).

Which tests: those that exercise behaviour a user of ``EmissionsTracker`` can see (start/stop/flush and their
return values, the decorator, the task API, output methods and handlers, the CSV, the logger output, the
emissions data fields). :data:`INTERNAL` lists the tests of the same files left out, each with the reason: they
poke CodeCarbon's private machinery (its schedulers, hardware objects, Electricity Maps client) that wattwatch
does not have by design.

Prints one line per test (``PASS``/``FAIL``/``ERROR``/``SKIP`` and, for failures, the first line of the reason),
then the count. Exit status 0 whatever the count: this is a report, not a gate.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

PUBLIC_FILES = (
    "tests/test_emissions_tracker.py",
    "tests/test_offline_emissions_tracker.py",
    "tests/test_emissions_tracker_flush.py",
    "tests/test_emissions_tracker_constant.py",
    "tests/test_custom_handler.py",
    "tests/test_logging_output.py",
    "tests/test_tracking_inference.py",
    "tests/test_utilization_tracking.py",
    "tests/test_config.py",
)
"""CodeCarbon's test files about the tracker's public behaviour (``test_config.py``: configuration files,
``CODECARBON_*`` variables and constructor values as the tracker sees them)."""

_HELPER_TEST = "tests CodeCarbon's own codecarbon.core.config helper (imported from codecarbon, no tracker involved)"

INTERNAL: dict[str, str] = {
    "test_carbon_tracker_TWO_GPU_PRIVATE_INFRA_CANADA": "asserts one call to geojs.io and calls into CodeCarbon's mocked GPU-detection functions (wattwatch never calls the network; its GPUs come from its own NVML sensor)",
    "test_carbon_tracker_online_context_manager_TWO_GPU_PRIVATE_INFRA_CANADA": "the same assertions as test_carbon_tracker_TWO_GPU_PRIVATE_INFRA_CANADA, through the context manager",
    "test_carbon_tracker_timeout": "asserts two calls to requests.get (CodeCarbon's IP geolocation)",
    "test_graceful_start_failure": "replaces the private _scheduler with a mock whose start() raises",
    "test_graceful_stop_failure": "replaces the private _measure_power with a function that raises",
    "test_monitor_power_collects_gpu_utilization_lightweight": "sets tracker._hardware to a mock of CodeCarbon's GPU class and calls _monitor_power()",
    "test_monitor_power_skips_gpu_when_index_is_none": "sets tracker._hardware to a mock of CodeCarbon's GPU class and calls _monitor_power()",
    "test_monitor_power_skips_gpu_not_in_monitored_ids": "sets tracker._hardware to a mock of CodeCarbon's GPU class and calls _monitor_power()",
    "test_monitor_power_skips_gpu_when_utilization_key_missing": "sets tracker._hardware to a mock of CodeCarbon's GPU class and calls _monitor_power()",
    "test_monitor_power_handles_empty_gpu_utilization_list": "sets tracker._hardware to a mock of CodeCarbon's GPU class and calls _monitor_power()",
    "test_start_task_returns_when_engine_initialization_fails": "patches the private _ensure_emissions_engine",
    "test_task_energy_with_live_update_interference": "mocks CodeCarbon's CPU/RAM hardware classes to inject energy",
    "test_scheduler_warning_suppressed_when_stopped": "drives CodeCarbon's private scheduler and _measure_power_and_energy",
    "test_scheduler_warning_shown_when_running": "drives CodeCarbon's private scheduler and _measure_power_and_energy",
    "test_cumulative_emissions_with_varying_intensity": "mocks the Electricity Maps HTTP client and injects tracker._hardware",
    "test_resolve_offline_country_name_logs_on_invalid_iso": "calls the private _resolve_offline_country_name",
    "test_carbon_tracker_offline_region_error": "calls the private _measure_power_and_energy, _ensure_emissions_engine and _emissions",
    "test_monitor_power_waits_while_utilization_history_is_read": "drives the private _monitor_power under _utilization_history_lock",
    "test_stop_task_resumes_scheduler_only_if_start_task_paused_it": "reads the private _scheduler._stopped flag",
    "test_power_monitor_keeps_running_around_tasks": "reads the private _scheduler_monitor_power._stopped flag",
    "test_clean_env_key": _HELPER_TEST,
    "test_parse_gpu_ids": _HELPER_TEST,
    "test_normalize_gpu_ids": _HELPER_TEST,
    "test_parse_env_config": _HELPER_TEST,
    "test_read_confs": _HELPER_TEST,
    "test_read_confs_and_parse_envs": _HELPER_TEST,
    "test_config_sources": _HELPER_TEST,
    "test_config_sources_are_logged_without_values": _HELPER_TEST,
    "test_empty_conf": _HELPER_TEST,
}
"""Tests of :data:`PUBLIC_FILES` that exercise CodeCarbon's internals, with the reason each is left out."""

PUBLIC_NAMES = (
    "EmissionsTracker",
    "OfflineEmissionsTracker",
    "track_emissions",
    "TaskEmissionsTracker",
    "track_task_emissions",
)
"""Names imported from ``codecarbon`` / ``codecarbon.emissions_tracker`` that are rewritten to ``wattwatch``."""

OFFLINE_EXAMPLES = (
    "examples/mnist_decorator.py",
    "examples/mnist_context_manager.py",
    "examples/mnist.py",
    "examples/mnist_callback.py",
    "examples/mnist-sklearn.py",
    "examples/mnist_grid_search.py",
    "examples/mnist_random_search.py",
    "examples/task_inference.py",
    "examples/task_loop_same_task.py",
    "examples/multithread.py",
    "examples/pue.py",
    "examples/wue.py",
    "examples/print_hardware.py",
)
"""CodeCarbon's examples that need no account, API key or cloud service and end by themselves. Left out: those
that call an online service (api_call_*, logging_to_google_cloud, logfire_metrics, prometheus_call, mnist-comet,
ollama_local_api), need hardware or models (intel_npu, bert_inference, transformers_smollm2, pytorch-multigpu,
boamps_output), or never end on purpose (full_cpu: 100 processes x 1e9 loops; logging_to_file*: 100 years)."""

SEAMS: dict[str, str] = {
    'mock.patch.object(cpu, "is_psutil_available")': 'mock.patch("wattwatch.sensors.codecarbon_cpu.cpu_load_available")',
    '"codecarbon.external.hardware.SystemCPULoadMeter.percent"': '"wattwatch.sensors.codecarbon_cpu.SystemCpuLoad.percent"',
}
"""CodeCarbon internals that its force_cpu_power tests mock to choose a situation, and wattwatch's function that
decides the same thing, where the rewritten tests patch instead: "the CPU times cannot be read" (CodeCarbon's
``is_psutil_available``, whose False selects its constant mode) and "the machine's CPU load is 50 %" (its
``SystemCPULoadMeter.percent``). The numbers asserted (50 % of the forced power; its load curve) stay CodeCarbon's.
The tests' other patches (CodeCarbon's TDP registry) are left on CodeCarbon, where they change nothing here."""

_FROM_IMPORT = re.compile(
    r"^(?P<indent>[ \t]*)from codecarbon(?:\.emissions_tracker)? import (?P<names>\([^)]*\)|[^\n]*)", re.M
)


def rewrite_imports(source: str) -> str:
    """Point the imports (and ``mock.patch`` targets) of :data:`PUBLIC_NAMES` at ``wattwatch``; leave the rest."""

    def one(match: re.Match[str]) -> str:
        indent = match.group("indent")
        raw = match.group("names").strip()
        names = [n.strip() for n in raw.strip("()").replace("\n", " ").split(",") if n.strip()]
        ours = [n for n in names if n.split(" as ")[0].strip() in PUBLIC_NAMES]
        theirs = [n for n in names if n not in ours]
        module = "codecarbon.emissions_tracker" if ".emissions_tracker" in match.group(0) else "codecarbon"
        lines = []
        if ours:
            lines.append(f"{indent}from wattwatch import {', '.join(ours)}")
        if theirs:
            lines.append(f"{indent}from {module} import {', '.join(theirs)}")
        return "\n".join(lines) if lines else f"{indent}pass"

    source = _FROM_IMPORT.sub(one, source)
    for theirs, ours in SEAMS.items():
        source = source.replace(theirs, ours)
    # A patch of the class itself (not of one of its private attributes) targets the name track_emissions uses.
    for name in ("EmissionsTracker", "OfflineEmissionsTracker"):
        source = re.sub(
            rf"([\"'])codecarbon\.emissions_tracker\.{name}\1",
            rf"\1wattwatch.compat.decorators.{name}\1",
            source,
        )
    return source


FIXTURE_DIRS = ("tests/fake_modules", "tests/test_data")
"""Folders CodeCarbon's tests import that its sdist leaves out (taken from ``--fixtures``, a git checkout)."""


def _prepare(source: Path, work: Path, baseline: bool, fixtures: Path | None) -> tuple[list[str], dict[str, str]]:
    """Copy the tests into ``work`` (rewritten unless ``baseline``); returns the files to run and, for the files
    left out, why."""
    shutil.copytree(source / "tests", work / "tests")
    for rel in FIXTURE_DIRS:
        if not (work / rel).exists() and fixtures is not None and (fixtures / rel).is_dir():
            shutil.copytree(fixtures / rel, work / rel)
    if (source / "pytest.ini").exists():
        shutil.copy(source / "pytest.ini", work / "pytest.ini")
    else:  # the sdist: CodeCarbon's pyproject.toml has only pythonpath = "." for pytest
        (work / "pytest.ini").write_text("[pytest]\npythonpath = .\n", encoding="utf-8")
    targets, skipped = [], {}
    for rel in PUBLIC_FILES:
        path = work / rel
        if not path.exists():
            skipped[rel] = "not in this source"
            continue
        text = path.read_text(encoding="utf-8")
        needs = [d for d in FIXTURE_DIRS if d.replace("/", ".") in text and not (work / d).exists()]
        if needs:
            skipped[rel] = f"imports {', '.join(needs)}, which the sdist leaves out: pass --fixtures <git checkout>"
            continue
        if not baseline:
            path.write_text(rewrite_imports(text), encoding="utf-8")
        targets.append(rel)
    return targets, skipped


def _deselect(targets: list[str], work: Path) -> list[str]:
    args = []
    for rel in targets:
        text = (work / rel).read_text(encoding="utf-8")
        for name in INTERNAL:
            if re.search(rf"def {name}\(", text):
                args += ["--deselect", f"{rel}::{_class_of(text, name)}{name}"]
    return args


def _class_of(text: str, test: str) -> str:
    cls = ""
    for line in text.splitlines():
        m = re.match(r"class (\w+)", line)
        if m:
            cls = m.group(1)
        if re.match(rf"\s+def {test}\(", line):
            return f"{cls}::"
        if re.match(rf"def {test}\(", line):
            return ""
    return ""


def run_tests(
    source: Path, baseline: bool, timeout_s: int, fixtures: Path | None = None, wattwatch: Path | None = None
) -> tuple[int, int]:
    with tempfile.TemporaryDirectory(prefix="cc-conformance-") as tmp:
        work = Path(tmp)
        targets, skipped = _prepare(source, work, baseline, fixtures)
        junit = work / "junit.xml"
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "addopts=",
            f"--rootdir={work}",
            f"--junitxml={junit}",
            "--continue-on-collection-errors",
            "--timeout",
            "120",
            *targets,
            *_deselect(targets, work),
        ]
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", CODECARBON_ALLOW_MULTIPLE_RUNS="True")
        env.pop("PYTHONPATH", None)
        if wattwatch is not None:  # another wattwatch tree (a before/after count), ahead of the installed one
            env["PYTHONPATH"] = str(wattwatch.resolve())
        subprocess.run(cmd, cwd=work, env=env, timeout=timeout_s, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        results: dict[str, tuple[str, str]] = {}
        file_errors: dict[str, str] = {}
        if junit.exists():
            for case in ET.parse(junit).getroot().iter("testcase"):
                outcome, reason = "PASS", ""
                for child in case:
                    if child.tag in ("failure", "error", "skipped"):
                        outcome = {"failure": "FAIL", "error": "ERROR", "skipped": "SKIP"}[child.tag]
                        reason = _reason(child)
                if not case.get("classname"):  # a module that failed to import: its name is the module's
                    file_errors[case.get("name", "")] = reason
                    continue
                cls = case.get("classname", "").split(".")[-1]
                results[f"{cls}::{case.get('name')}"] = (outcome, reason)
        passed = total = left_out = 0
        for rel in PUBLIC_FILES:
            if rel in skipped:
                ids = _test_ids(source / rel) if (source / rel).exists() else []
                left_out += len(ids)
                print(f"SKIP  {rel} ({len(ids)} tests)  -- {skipped[rel]}")
                continue
            module = rel[:-3].replace("/", ".")
            for test_id in _test_ids(work / rel):
                outcome, reason = results.get(
                    test_id, ("ERROR", "not run: " + file_errors.get(module, "no result (pytest crashed or timed out)"))
                )
                total += 1
                passed += outcome == "PASS"
                print(f"{outcome:5} {rel}::{test_id}" + (f"  -- {reason}" if reason else ""))
        internal = sum(1 for rel in targets for name in INTERNAL if re.search(rf"def {name}\(", (work / rel).read_text()))
        print(f"\n{passed} of {total} CodeCarbon public-behaviour tests pass against "
              f"{'codecarbon' if baseline else 'wattwatch'}'s names ({internal} internal tests left out"
              + (f"; {left_out} not run, their fixtures missing" if left_out else "") + ")")
        return passed, total


def _test_ids(path: Path) -> list[str]:
    """``Class::test`` (or ``::test``) of every test in a file, less :data:`INTERNAL`, read without importing."""
    import ast

    ids = []
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            ids += [f"{node.name}::{f.name}" for f in node.body
                    if isinstance(f, ast.FunctionDef) and f.name.startswith("test_") and f.name not in INTERNAL]
        elif isinstance(node, ast.FunctionDef) and node.name.startswith("test_") and node.name not in INTERNAL:
            ids.append(f"::{node.name}")
    return ids


def _reason(element: ET.Element) -> str:
    message = (element.get("message") or "").strip()
    text = element.text or ""
    lines = [ln for ln in text.splitlines() if ln.startswith("E ")]
    first = lines[0][1:].strip() if lines else message.splitlines()[0] if message else ""
    return first[:200]


def run_examples(checkout: Path, baseline: bool, timeout_s: int) -> tuple[int, int]:
    passed = total = 0
    for rel in OFFLINE_EXAMPLES:
        src = checkout / rel
        if not src.exists():
            continue
        total += 1
        with tempfile.TemporaryDirectory(prefix="cc-example-") as tmp:
            script = Path(tmp) / src.name
            text = src.read_text(encoding="utf-8")
            script.write_text(text if baseline else rewrite_imports(text), encoding="utf-8")
            try:
                proc = subprocess.run(
                    [sys.executable, script.name], cwd=tmp, timeout=timeout_s, capture_output=True, text=True
                )
                ok, tail = proc.returncode == 0, (proc.stderr.strip().splitlines() or [""])[-1]
            except subprocess.TimeoutExpired:
                ok, tail = False, f"timed out after {timeout_s} s"
        missing = re.match(r"ModuleNotFoundError: No module named '([\w.]+)'", tail)
        if missing and missing.group(1).split(".")[0] not in ("wattwatch", "codecarbon"):
            total -= 1
            print(f"SKIP  {rel}  -- needs {missing.group(1)}, not installed here")
            continue
        passed += ok
        print(f"{'PASS' if ok else 'FAIL':5} {rel}" + ("" if ok else f"  -- {tail[:200]}"))
    print(f"\n{passed} of {total} offline examples run (those whose own dependencies are installed)")
    return passed, total


def locate_source(given: Path | None) -> tuple[Path | None, str]:
    """CodeCarbon's source with its ``tests/`` (unpacking an sdist archive into a temporary folder), or ``None``
    and the reason. Looks at ``given``, then ``$WATTWATCH_CODECARBON_SOURCE``; fetches nothing."""
    if given is None:
        env = os.environ.get("WATTWATCH_CODECARBON_SOURCE", "").strip()
        given = Path(env) if env else None
    if given is None:
        return None, ("no CodeCarbon source given. Get the sdist (it ships tests/) with\n"
                      "  pip download --no-deps --no-binary :all: codecarbon==3.3.2 -d /tmp/cc332\n"
                      "and pass /tmp/cc332/codecarbon-3.3.2.tar.gz (or set WATTWATCH_CODECARBON_SOURCE)")
    if given.is_file() and given.name.endswith((".tar.gz", ".tgz")):
        import atexit
        import tarfile

        unpacked = Path(tempfile.mkdtemp(prefix="cc-sdist-"))
        atexit.register(shutil.rmtree, unpacked, ignore_errors=True)
        with tarfile.open(given) as archive:
            archive.extractall(unpacked, filter="data")
        tops = [p for p in unpacked.iterdir() if p.is_dir()]
        given = tops[0] if len(tops) == 1 else unpacked
    if not (given / "tests").is_dir():
        return None, f"{given} has no tests/ folder: pass CodeCarbon's sdist (codecarbon-X.Y.Z.tar.gz) or git checkout"
    return given.resolve(), ""


def _installed_codecarbon() -> tuple[str | None, str]:
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:  # pragma: no cover - Python >= 3.8
        return None, "importlib.metadata missing"
    try:
        return version("codecarbon"), ""
    except PackageNotFoundError:
        return None, "codecarbon is not installed in this interpreter (its tests import its fixtures): " \
                     "pip install 'codecarbon==3.3.2' responses"


def _source_version(source: Path) -> str | None:
    for name in ("PKG-INFO", "pyproject.toml"):
        path = source / name
        if path.exists():
            m = re.search(r"^(?:Version: |current_version = \")([\w.]+)", path.read_text(encoding="utf-8"), re.M)
            if m:
                return m.group(1)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, nargs="?",
                        help="CodeCarbon's sdist (.tar.gz or unpacked) or git checkout; default $WATTWATCH_CODECARBON_SOURCE")
    parser.add_argument("--fixtures", type=Path, help="a CodeCarbon git checkout for the fixtures the sdist lacks")
    parser.add_argument("--wattwatch", type=Path,
                        help="a wattwatch source tree to test instead of the installed one (before/after counts)")
    parser.add_argument("--baseline", action="store_true", help="run against codecarbon itself, no rewriting")
    parser.add_argument("--examples", action="store_true", help="also run its offline examples")
    parser.add_argument("--examples-only", action="store_true", help="run only its offline examples")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds for the whole test run (default 1800)")
    args = parser.parse_args(argv)
    source, why = locate_source(args.source)
    if source is None:
        print(f"SKIP: {why}")
        return 0
    installed, why = _installed_codecarbon()
    if installed is None:
        print(f"SKIP: {why}")
        return 0
    wanted = _source_version(source)
    print(f"CodeCarbon tests from {source} (version {wanted or 'unknown'}); codecarbon {installed} installed")
    if wanted and wanted != installed:
        print(f"note: the tests are {wanted}'s but codecarbon {installed} is installed; results may differ")
    if not args.examples_only:
        run_tests(source, args.baseline, args.timeout, args.fixtures, args.wattwatch)
    if args.examples or args.examples_only:
        run_examples(source, args.baseline, 300)
    return 0


if __name__ == "__main__":
    sys.exit(main())

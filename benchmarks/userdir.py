"""The users' output folder for the start/stop benchmarks (figures 1 and 9): not an empty folder, but one a
project has used for a while.

For wattwatch: ``emissions.csv`` with ``rows`` earlier rows (~1 KB each, every column filled, as
:func:`benchmarks.bench_history.make_history` writes them) followed by the rows of real runs, the time series of
those runs, and under ``.wattwatch/runs`` the journals of other runs: ``dead`` of runs killed with ``kill -9``
(real journals: a tracker that flushed, then was killed) and ``live`` of runs still going (the same journals,
their owner a live process of this benchmark, so :func:`~wattwatch.sinks.journal.finalize_stale` must leave
them). For CodeCarbon: ``emissions.csv`` with the same number of its own rows (its header, so it appends rather
than backing the file up), and the same ``.wattwatch`` folder (which it ignores).

A template is built once per benchmark; :func:`fresh_copy` gives each measured process its own copy, written
to disk (``fsync``) before the process starts, as a long-lived folder's files are -- otherwise the first
``fsync`` of the measured process would also write back the copy.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT

__all__ = ["UserFolders", "fresh_copy", "user_folders"]

_RUN = r"""
import os, sys, time, logging
logging.disable(logging.CRITICAL)
from wattwatch import Tracker
out, how, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
t = Tracker(project_name="bench", output_dir=out, country_iso_code="FRA", handle_signals=False)
t.start()
time.sleep(seconds)
if how == "kill":
    t.flush()
    os.kill(os.getpid(), 9)
t.stop()
"""

_CC_RUN = r"""
import sys, logging
from codecarbon import OfflineEmissionsTracker
t = OfflineEmissionsTracker(project_name="bench", output_dir=sys.argv[1], country_iso_code="FRA",
                            log_level="error", save_to_file=True)
t.start()
t.stop()
"""


@dataclass
class UserFolders:
    """Templates of the users' folder for each tool, and the processes that own the "live" journals (keep this
    object until the measurements end; :meth:`close` ends those processes)."""

    ww: Path
    cc: Path
    rows: int
    live: int
    dead: int
    owners: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def describe(self) -> str:
        """The set-up in words, for a figure's note."""
        return (
            f"output folder with history: emissions.csv of {self.rows:,} earlier rows (~1 KB, 8-GPU runs, "
            f"every column filled) plus real runs' rows, their time series, and {self.live} journals of live runs "
            f"and {self.dead} of runs killed with kill -9 under .wattwatch/runs (CodeCarbon: {self.rows:,} rows "
            "of its own format in its emissions.csv, the same .wattwatch folder)"
        )

    def close(self) -> None:
        for proc in self.owners:
            try:
                proc.kill()
                proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.owners.clear()

    def __enter__(self) -> UserFolders:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _python(code: str, env: dict[str, str], *args: str, check: bool = True) -> None:
    full = dict(os.environ)
    full.update(env)
    full["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), full.get("PYTHONPATH", "")]))
    full["CODECARBON_LOG_LEVEL"] = "error"
    proc = subprocess.run([sys.executable, "-c", code, *args], env=full, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"user folder set-up failed ({proc.returncode}):\n{proc.stderr[-2000:]}")


def _fsync_tree(root: Path) -> None:
    for folder, _dirs, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(folder, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _live_copy(journal: Path, owner: dict[str, Any], index: int) -> None:
    """A copy of the dead run's ``journal`` that a live process owns (another run id, the same records)."""
    run_id = journal.name.split(".")[0]
    new_id = f"{index:08x}{run_id[8:]}"
    lines = []
    for line in journal.read_text().splitlines():
        record = json.loads(line)
        record["owner"] = owner
        record["run_id"] = new_id
        record["row"]["run_id"] = new_id
        lines.append(json.dumps(record, separators=(",", ":")))
    (journal.parent / f"{new_id}.{owner['pid']}-live.json").write_text("\n".join(lines) + "\n")


def user_folders(
    directory: Path,
    env: dict[str, str],
    *,
    rows: int = 10_000,
    live: int = 2,
    dead: int = 2,
    run_s: float = 2.5,
) -> UserFolders:
    """Build both tools' template folders under ``directory`` with the fake GPUs of ``env`` (see the module
    docstring). Each real run tracks ``run_s`` seconds (``2 + dead`` of them, one after the other)."""
    from benchmarks.bench_history import make_history
    from wattwatch.sinks.owner import ProcessIdentity

    ww, cc = Path(directory) / "user-ww", Path(directory) / "user-cc"
    ww.mkdir(parents=True)
    cc.mkdir(parents=True)
    make_history(ww / "emissions.csv", rows)
    _python(_RUN, env, str(ww), "stop", repr(run_s))  # a finished run (its row and time series)
    journal_dir = ww / ".wattwatch" / "runs"
    journal_dir.mkdir(parents=True, exist_ok=True)
    for i in range(max(dead, 1 if live else 0)):  # each in its own folder: a start finalises dead journals
        killed = Path(directory) / f"killed{i}"
        killed.mkdir()
        _python(_RUN, env, str(killed), "kill", repr(run_s), check=False)  # killed: exit status -9
        for path in (killed / ".wattwatch" / "runs").glob("*.json"):
            path.rename(journal_dir / path.name)
        for path in killed.glob("*.timeseries.csv"):
            path.rename(ww / path.name)
    journals = sorted(journal_dir.glob("*.json"))
    if len(journals) < max(dead, 1 if live else 0):
        raise RuntimeError(f"user folder set-up: expected journals of killed runs, found {journals}")
    folders = UserFolders(ww, cc, rows, live, dead)
    for i in range(live):
        proc = subprocess.Popen([sys.executable, "-S", "-c", "import time; time.sleep(1e6)"])
        folders.owners.append(proc)
        _live_copy(journals[0], ProcessIdentity.of(proc.pid).to_dict(), i + 1)
    for extra in journals[dead:]:
        extra.unlink()
    # CodeCarbon's own history: its header and rows (one real row, repeated)
    sample = Path(directory) / "cc-sample"
    sample.mkdir()
    _python(_CC_RUN, env, str(sample))
    header, row = (sample / "emissions.csv").read_text().splitlines()[:2]
    with open(cc / "emissions.csv", "w") as fh:
        fh.write(header + "\n")
        for _ in range(rows):
            fh.write(row + "\n")
    shutil.copytree(ww / ".wattwatch", cc / ".wattwatch")
    return folders


def fresh_copy(template: Path, dest: Path) -> Path:
    """A copy of ``template`` at ``dest``, on disk (``fsync``) before the measured process starts."""
    shutil.copytree(template, dest)
    _fsync_tree(dest)
    return dest

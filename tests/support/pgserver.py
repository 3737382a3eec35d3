"""A real PostgreSQL server for tests and benchmarks: Debian's ``postgresql`` package, started in a temp folder.

:func:`find_binaries` looks for ``initdb``, ``pg_ctl`` and ``postgres`` on ``PATH`` and in Debian's
``/usr/lib/postgresql/<version>/bin`` (newest first). :class:`PostgresServer` runs ``initdb`` (trust
authentication, UTF-8) and ``pg_ctl start`` in a fresh folder, listening on ``127.0.0.1:<free port>`` and on a
unix socket in the same folder; PostgreSQL refuses to run as root, so as root the folder is given to the
``postgres`` user (created by Debian's package; else ``nobody``) and the server runs as that user. ``stop()``
stops it (``pg_ctl stop -m fast``: connections cut, commits kept) and removes the folder; ``pause()``/``resume()`` stop and start the same
cluster (a database outage). Nothing here mocks the database.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["PostgresServer", "find_binaries", "missing_reason"]

_TOOLS = ("initdb", "pg_ctl", "postgres")


def find_binaries() -> Path | None:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres``, or ``None``."""
    candidates: list[Path] = []
    found = shutil.which("pg_ctl")
    if found:
        candidates.append(Path(os.path.realpath(found)).parent)
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: [int(x) if x.isdigit() else 0 for x in Path(p).parent.name.split(".")],
        reverse=True,
    )
    candidates += [Path(p) for p in versions]
    for folder in candidates:
        if all(os.access(folder / tool, os.X_OK) for tool in _TOOLS):
            return folder
    return None


def missing_reason() -> str:
    return (
        "PostgreSQL server binaries not found (Debian: apt-get install postgresql; scripts/test installs it "
        "when it runs as root)"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_user() -> tuple[int, int] | None:
    """``(uid, gid)`` to run the server as when this process is root; ``None`` when it is not."""
    if os.getuid() != 0:
        return None
    import pwd

    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return entry.pw_uid, entry.pw_gid
    raise RuntimeError("running as root and no 'postgres' or 'nobody' user to run PostgreSQL as")


class PostgresServer:
    """One PostgreSQL cluster in a temp folder (see the module's docstring)."""

    def __init__(self, binaries: Path, *, database: str = "wattwatch", durable: bool = False) -> None:
        self.binaries = binaries
        self.durable = durable
        """``fsync`` and synchronous commits as a production server has them (benchmarks); tests turn them off."""
        self.database = database
        self.folder = Path(tempfile.mkdtemp(prefix="wattwatch-pg-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self._user = _server_user()
        self._env = {"PATH": f"{binaries}:/usr/bin:/bin", "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8", "TZ": "UTC"}
        if self._user is not None:
            os.chown(self.folder, *self._user)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.database}"

    @property
    def socket_url(self) -> str:
        return f"postgresql://postgres@/{self.database}?host={self.folder}&port={self.port}"

    def _run(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, object] = {}
        if self._user is not None:
            kwargs.update(user=self._user[0], group=self._user[1], extra_groups=[])
        return subprocess.run(
            list(args),
            env=self._env,
            cwd=self.folder,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
            **kwargs,  # type: ignore[arg-type]
        )

    def start(self) -> PostgresServer:
        """initdb (first time), start, create the database; raises ``RuntimeError`` with the server's log."""
        try:
            if not (self.data / "PG_VERSION").exists():
                self._run(
                    str(self.binaries / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                    "-E", "UTF8", "--no-sync", "-A", "trust",
                )  # fmt: skip
            self._pg_ctl_start()
            self._create_database()
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            log = (self.folder / "server.log").read_text(errors="replace")[-2000:] if (self.folder / "server.log").exists() else ""
            raise RuntimeError(f"could not start PostgreSQL: {getattr(exc, 'stderr', '') or exc}\n{log}") from None
        return self

    def _pg_ctl_start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.folder} "
            "-c max_connections=100 -c shared_buffers=128MB"
        )
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run(
            str(self.binaries / "pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "server.log"), "-w",
            "-t", "60", "-o", options, "start",
        )  # fmt: skip

    def _create_database(self) -> None:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True) as c:
            exists = c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)).fetchone()
            if not exists:
                c.execute(f'CREATE DATABASE "{self.database}"')

    def reset(self) -> None:
        """Drop and re-create the database (a fresh ledger for the next test)."""
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True) as c:
            c.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (self.database,),
            )
            c.execute(f'DROP DATABASE IF EXISTS "{self.database}"')
            c.execute(f'CREATE DATABASE "{self.database}"')

    def pause(self) -> None:
        """Stop the server, keeping its data (an outage); :meth:`resume` starts it again on the same port."""
        self._run(str(self.binaries / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def resume(self) -> None:
        self._pg_ctl_start()

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self.pause()
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            pass
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_until(predicate, timeout_s: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False

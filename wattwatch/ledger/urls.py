"""Which database the ledger is: a URL given, ``$WATTWATCH_DB``, else SQLite in the user's data folder.

:func:`parse_url` checks a URL's kind without importing SQLAlchemy (a tracker checks ``ledger_url`` in its
constructor, before any work): ``sqlite:///PATH`` (``sqlite://`` alone: in memory, for tests) and PostgreSQL as
``postgresql://``, ``postgres://`` or ``postgresql+psycopg://`` (always through psycopg 3). Anything else is a
:class:`LedgerError` in one line. :attr:`LedgerURL.where` names the database for messages without its password.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from wattwatch.errors import UsageError

__all__ = ["ENV_VAR", "LedgerError", "LedgerURL", "default_sqlite_path", "parse_url", "resolve_url"]

ENV_VAR = "WATTWATCH_DB"
"""The environment variable naming the ledger's database URL (set it in a cluster's environment)."""

_POSTGRES = ("postgresql", "postgres", "postgresql+psycopg")
_HINT = "the ledger takes sqlite:///PATH or postgresql://USER@HOST:PORT/DATABASE"


class LedgerError(UsageError):
    """The ledger cannot be used as asked: a URL of an unsupported kind, a database that cannot be reached, a
    schema newer than this wattwatch. The message is one line saying what to do."""


@dataclass(frozen=True)
class LedgerURL:
    """A checked database URL. ``kind``: ``sqlite`` or ``postgresql``."""

    text: str
    kind: str
    sqlalchemy: str
    """The URL SQLAlchemy is given (``postgresql+psycopg://...``)."""
    host: str = ""
    port: int | None = None
    database: str = ""

    @property
    def where(self) -> str:
        """Where the database is, for messages (never the password): ``host:port/db`` or the SQLite path."""
        if self.kind == "sqlite":
            return self.database or ":memory:"
        host = self.host or "localhost"
        port = self.port or 5432
        if host.startswith("/"):
            return f"socket {host}/.s.PGSQL.{port}" + (f" database {self.database}" if self.database else "")
        return f"{host}:{port}" + (f"/{self.database}" if self.database else "")


def _scheme_of(text: str) -> str:
    return text.split("://", 1)[0].lower() if "://" in text else ""


def parse_url(text: str) -> LedgerURL:
    """Check ``text`` and say where it points. Raises :class:`LedgerError` (one line) for an unsupported kind."""
    if not isinstance(text, str) or not text.strip():
        raise LedgerError(f"a database URL is needed; {_HINT}")
    text = text.strip()
    scheme = _scheme_of(text)
    if scheme == "sqlite":
        rest = text.split("://", 1)[1]
        if rest and not rest.startswith("/"):
            raise LedgerError(f"a SQLite URL is sqlite:///RELATIVE/PATH or sqlite:////ABSOLUTE/PATH; got {text!r}")
        path = unquote(rest[1:].split("?", 1)[0])
        return LedgerURL(text, "sqlite", text, database=path)
    if scheme in _POSTGRES:
        try:
            parts = urlsplit(text)
            port = parts.port
        except ValueError as exc:
            raise LedgerError(f"cannot read the PostgreSQL URL ({exc}); {_HINT}") from None
        query = parse_qs(parts.query)
        host = parts.hostname or (query.get("host") or [""])[0]
        if port is None and query.get("port"):
            try:
                port = int(query["port"][0])
            except ValueError:
                raise LedgerError(f"the PostgreSQL URL's port is not a number; {_HINT}") from None
        rest = text.split("://", 1)[1]
        return LedgerURL(
            text,
            "postgresql",
            "postgresql+psycopg://" + rest,
            host=host,
            port=port,
            database=unquote(parts.path.lstrip("/")),
        )
    kind = scheme or text.split(":", 1)[0][:20]
    raise LedgerError(f"unsupported database URL kind {kind!r}: {_HINT}")


def default_sqlite_path() -> str:
    """``<the user's data folder>/wattwatch/ledger.db`` (platformdirs: ``~/.local/share`` on Linux)."""
    try:
        from platformdirs import user_data_dir
    except ImportError:
        raise LedgerError(
            "the ledger needs wattwatch's [ledger] extra (SQLAlchemy, psycopg, platformdirs): pip install -e '.[ledger]' in wattwatch's clone"
        ) from None
    return os.path.join(user_data_dir("wattwatch", appauthor=False), "ledger.db")


def resolve_url(given: str | None, environ: Mapping[str, str] | None = None) -> LedgerURL:
    """The ledger the user means: ``given`` when set, else ``$WATTWATCH_DB``, else the SQLite file in the user's
    data folder."""
    env = os.environ if environ is None else environ
    text = given if given else env.get(ENV_VAR, "").strip()
    if not text:
        text = "sqlite:///" + default_sqlite_path()
    return parse_url(text)

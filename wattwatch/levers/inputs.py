"""What ``wattwatch levers`` reads from the user, checked before any model loads: the prompt file (one prompt per
line), the evaluation text, and the bundled defaults (``data/``: prompts written for wattwatch, and chapter 1 of
Jane Austen's *Pride and Prejudice*, 1813, in the public domain). Bad input raises :class:`UsageError` with
one line saying what to do. No torch here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources

from wattwatch.errors import UsageError

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_PROMPTS",
    "TextInput",
    "default_eval_text",
    "default_prompts",
    "parse_batch_sizes",
    "parse_dtypes",
    "read_eval_text",
    "read_prompts",
]

MAX_FILE_BYTES = 4 * 2**20
"""Largest prompt or evaluation file read (4 MiB)."""
MAX_PROMPTS = 10_000
MAX_BATCH = 4096
DTYPE_NAMES = ("fp32", "bf16", "fp16", "int8", "int4")


@dataclass(frozen=True)
class TextInput:
    """A text and where it came from (a path, or the bundled file's description)."""

    text: str
    source: str


def _bundled(name: str) -> str:
    return resources.files("wattwatch.levers").joinpath(f"data/{name}").read_text("utf-8")


def default_prompts() -> list[str]:
    """The bundled prompts (32, from a few words to a paragraph)."""
    return [line.strip() for line in _bundled("prompts.txt").splitlines() if line.strip()]


def default_eval_text() -> TextInput:
    """The bundled evaluation text: *Pride and Prejudice*, chapter 1 (Jane Austen, 1813; public domain)."""
    return TextInput(_bundled("eval.txt"), "Pride and Prejudice, chapter 1 (Jane Austen, 1813; bundled)")


def _read_text(path: str, what: str) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except IsADirectoryError:
        raise UsageError(f"{what} {path!r} is a folder; give a UTF-8 text file") from None
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path!r}: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise UsageError(f"{what} {path!r} is larger than {MAX_FILE_BYTES // 2**20} MiB; give a smaller file")
    if b"\x00" in data:
        raise UsageError(f"{what} {path!r} is not text (it holds NUL bytes); give a UTF-8 text file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{what} {path!r} is not UTF-8 text (byte {exc.start}); give a UTF-8 text file") from None
    if not text.strip():
        raise UsageError(f"{what} {path!r} is empty; give at least one line of text")
    return text


def read_prompts(path: str | None) -> list[str]:
    """Prompts, one per non-blank line of ``path`` (the bundled ones when ``None``)."""
    if path is None:
        return default_prompts()
    lines = [line.strip() for line in _read_text(os.fspath(path), "prompt file").splitlines()]
    prompts = [line for line in lines if line]
    if len(prompts) > MAX_PROMPTS:
        raise UsageError(f"prompt file {path!r} has {len(prompts)} prompts; at most {MAX_PROMPTS}")
    return prompts


def read_eval_text(path: str | None) -> TextInput:
    """The evaluation text for perplexity (the bundled chapter when ``None``)."""
    if path is None:
        return default_eval_text()
    return TextInput(_read_text(os.fspath(path), "evaluation text"), os.fspath(path))


def parse_batch_sizes(text: str) -> list[int]:
    """``"1,8,32"`` -> ``[1, 8, 32]`` (positive, at most 4096, duplicates dropped, order kept)."""
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        try:
            n = int(part)
        except ValueError:
            raise UsageError(f"--batch-sizes: {part!r} is not a whole number (e.g. --batch-sizes 1,8,32)") from None
        if not 1 <= n <= MAX_BATCH:
            raise UsageError(f"--batch-sizes: {n} is out of range (1 to {MAX_BATCH})")
        if n not in out:
            out.append(n)
    return out


def parse_dtypes(text: str) -> list[str]:
    """``"fp32,int8"`` -> ``["fp32", "int8"]``, in the order highest precision first."""
    asked = [p.strip().lower() for p in text.split(",") if p.strip()]
    unknown = [p for p in asked if p not in DTYPE_NAMES]
    if unknown or not asked:
        first = f"unknown precision {unknown[0]!r}" if unknown else "none given"
        raise UsageError(f"--dtypes: {first} (choose from {','.join(DTYPE_NAMES)})")
    return [d for d in DTYPE_NAMES if d in asked]

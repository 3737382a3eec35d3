"""Every README example runs after the install line the README gives for it.

Each Python example in README.md is preceded by ``Install: `pip install wattwatch[...]` ``. For each one this
test works out which distributions that install line brings (the base requirements and the extra's, with their
own requirements, from the installed metadata) and runs the example in a fresh interpreter where every other
installed third-party package is absent (``python -S`` over a folder of links to the allowed ones). Examples of the plain install run whole (``train()`` is a no-op
stand-in for the user's code); examples of an extra run their import lines (the rest needs a model and data).
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
_BLOCK = re.compile(
    r"^Install: `pip install (?:-e )?'?(?:wattwatch|\.)(?:\[(?P<extra>[\w,]+)\])?'?`\s*\n\s*\n```python\n(?P<code>.*?)```",
    re.M | re.S,
)
"""An example's install line: ``pip install -e '.[hf]'`` from the clone (or ``pip install 'wattwatch[hf]'``)."""


def examples() -> list[tuple[str, str]]:
    """``(extra or "", code)`` for each Python example of the README, in order."""
    return [(m.group("extra") or "", m.group("code")) for m in _BLOCK.finditer(README.read_text())]


def _requirement_names(dist: str, extras: set[str]) -> set[str]:
    """Names required by ``dist`` with ``extras`` (markers other than extras are evaluated as on this machine)."""
    from packaging.requirements import Requirement

    names: set[str] = set()
    for text in metadata.requires(dist) or []:
        req = Requirement(text)
        if req.marker is not None:
            if not any(req.marker.evaluate({"extra": e}) for e in (extras or {""})):
                continue
        names.add(req.name.lower().replace("_", "-"))
        if req.extras:
            names |= {f"{req.name.lower().replace('_', '-')}[{e}]" for e in req.extras}
    return names


def allowed_distributions(extra: str) -> set[str]:
    """Distributions ``pip install wattwatch[extra]`` installs (names normalised), from the installed metadata."""
    todo = {f"wattwatch[{extra}]"} if extra else {"wattwatch"}
    seen: set[str] = set()
    while todo:
        item = todo.pop()
        name, _, ex = item.partition("[")
        key = name if not ex else item
        if key in seen:
            continue
        seen.add(key)
        try:
            todo |= _requirement_names(name, {e.rstrip("]") for e in ex.split(",") if e})
        except metadata.PackageNotFoundError:
            continue
    return {s.partition("[")[0] for s in seen}


def filtered_site(allowed: set[str], dest: Path) -> Path:
    """A folder holding (as symbolic links) only the ``allowed`` installed distributions and wattwatch's source:
    with ``python -S`` and this folder as the only path entry, nothing else is importable, as after
    ``pip install`` of exactly those."""
    dest.mkdir()
    for dist in metadata.distributions():
        name = str(dist.metadata["Name"]).lower().replace("_", "-")
        if name not in allowed or name == "wattwatch":
            continue
        for file in dist.files or []:
            top = file.parts[0]
            if top in ("..", "__pycache__") or top.endswith(".pth"):
                continue
            source, link = Path(str(dist.locate_file(top))), dest / top
            if source.exists() and not link.exists():
                link.symlink_to(source)
    package = dest / "wattwatch"
    package.mkdir()
    for child in (ROOT / "wattwatch").iterdir():
        (package / child.name).symlink_to(child)
    (package / "callbacks").symlink_to(ROOT / "callbacks")  # installed as wattwatch.callbacks
    return dest


_RUNNER = textwrap.dedent(
    """
    def train():
        pass

    exec(compile({code!r}, "README example", "exec"), {{"train": train, "__name__": "__main__"}})
    print("ran")
    """
)


def _imports_only(code: str) -> str:
    tree = ast.parse(code)
    return "\n".join(ast.get_source_segment(code, n) or "" for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom))


def test_the_readme_has_install_lines_for_its_examples() -> None:
    found = examples()
    assert len(found) >= 3
    assert found[0][0] == "" and "country_iso_code=\"FRA\"" in found[0][1]  # the first example: plain install
    python_blocks = README.read_text().count("```python")
    assert python_blocks == len(found), "every Python example in the README needs an `Install:` line"


@pytest.mark.parametrize("index", range(len(examples())))
def test_readme_example_runs_with_its_install_line(index: int, tmp_path: Path) -> None:
    extra, code = examples()[index]
    allowed = allowed_distributions(extra)
    if extra:
        for dist in allowed - {"wattwatch"}:
            try:
                metadata.version(dist)
            except metadata.PackageNotFoundError:
                pytest.skip(f"wattwatch[{extra}] needs {dist}, not installed here")
        code = _imports_only(code)
    assert "codecarbon" not in allowed or extra in ("codecarbon", "all", "test")
    site = filtered_site(allowed, tmp_path / "site")
    env = dict(os.environ, PYTHONPATH=str(site))
    work = tmp_path / "work"
    work.mkdir()
    out = subprocess.run(
        [sys.executable, "-S", "-c", _RUNNER.format(code=code)],
        cwd=work, env=env, capture_output=True, text=True, timeout=180,
    )
    assert out.returncode == 0, f"README example {index} (wattwatch[{extra}]) failed:\n{out.stderr[-2000:]}"
    assert out.stdout.strip().endswith("ran")

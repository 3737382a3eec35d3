"""scripts/check_structure.py finds each kind of violation in a synthetic package, and nothing in a clean one."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check_structure.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_structure", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_structure"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _package(root: Path, files: dict[str, str]) -> Path:
    pkg = root / "pkg"
    for name, text in files.items():
        path = pkg / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return pkg


def test_each_limit_is_reported(tmp_path: Path) -> None:
    cs = _load()
    body = "\n".join(f"    x{i} = {i}" for i in range(85))
    big_function = f"def long():\n{body}\n"
    big_class = "class Big:\n" + "\n".join(f"    a{i}: int = {i}" for i in range(305)) + "\n"
    files = {f"m{i}.py": "" for i in range(10)} | {
        "__init__.py": "",
        "sub/__init__.py": "",
        "sub/f.py": big_function,
        "sub/c.py": big_class,
        "sub/long.py": "\n" * 501,
        "sub/any.py": "from typing import Any\n\ndef f(x: Any, *a: Any, y: 'Any' = 1) -> None: ...\n",
    }
    found = {(f.kind, f.where) for f in cs.check(_package(tmp_path, files), []) if f.violation}
    assert ("function", "pkg.sub.f.long") in found
    assert ("class", "pkg.sub.c.Big") in found
    assert ("module", "pkg/sub/long.py") in found
    assert any(kind == "top_modules" for kind, _ in found)  # 11 modules directly in pkg/
    assert ("any_param", "pkg.sub.any.f(x)") in found and ("any_param", "pkg.sub.any.f(y)") in found
    assert not any(where.endswith("(a)") for _, where in found)  # *args: Any is a pass-through note


def test_a_clean_package_passes(tmp_path: Path) -> None:
    cs = _load()
    pkg = _package(tmp_path, {"__init__.py": "", "a.py": "def f(x: int) -> int:\n    return x\n"})
    assert [f for f in cs.check(pkg, []) if f.violation] == []
    assert cs.main(["--package", str(pkg), "--callbacks", ""]) == 0

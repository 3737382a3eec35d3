"""Measure the package's structure against issue 12's limits and print every violation.

    python scripts/check_structure.py [--package wattwatch] [--callbacks callbacks] [--all]

Limits: a class at most 300 lines, a function (or method) at most 80, a module at most 500, at most 10 modules
directly in ``wattwatch/``, and no parameter annotated ``Any`` (a Protocol says what is needed; ``*args: Any``
/ ``**kwargs: Any`` that only pass arguments through are reported separately, as notes). Sizes are physical
lines from ``def``/``class`` (decorators included) to the last line, docstrings and comments included.
``--all`` also prints the largest of each kind. Exit status 1 when a limit is exceeded.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LIMITS", "Finding", "check", "main"]

LIMITS = {"class": 300, "function": 80, "module": 500, "top_modules": 10}

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Finding:
    """One measured thing: ``kind`` (class, function, module, top_modules, any_param, any_passthrough)."""

    kind: str
    where: str
    size: int
    limit: int | None = None

    @property
    def violation(self) -> bool:
        return self.kind == "any_param" or (self.limit is not None and self.size > self.limit)

    def __str__(self) -> str:
        limit = f" (limit {self.limit})" if self.limit is not None else ""
        return f"{self.kind:15} {self.size:5}{limit}  {self.where}"


def _span(node: ast.AST) -> int:
    start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])  # type: ignore[attr-defined]
    end = node.end_lineno or node.lineno  # type: ignore[attr-defined]
    return int(end - start + 1)


def _is_any(annotation: ast.expr | None) -> bool:
    if annotation is None:
        return False
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):  # a string annotation
        try:
            annotation = ast.parse(annotation.value, mode="eval").body
        except SyntaxError:
            return False
    return (isinstance(annotation, ast.Name) and annotation.id == "Any") or (
        isinstance(annotation, ast.Attribute) and annotation.attr == "Any"
    )


def _walk(tree: ast.AST, prefix: str) -> Iterator[Finding]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.ClassDef):
            name = f"{prefix}.{node.name}"
            yield Finding("class", name, _span(node), LIMITS["class"])
            yield from _walk(node, name)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            name = f"{prefix}.{node.name}"
            yield Finding("function", name, _span(node), LIMITS["function"])
            a = node.args
            for arg in [*a.posonlyargs, *a.args, *a.kwonlyargs]:
                if _is_any(arg.annotation):
                    yield Finding("any_param", f"{name}({arg.arg})", node.lineno)
            for arg in (a.vararg, a.kwarg):
                if arg is not None and _is_any(arg.annotation):
                    yield Finding("any_passthrough", f"{name}(*{arg.arg})", node.lineno)
            yield from _walk(node, name)


def check(package: Path, extra: list[Path]) -> list[Finding]:
    """Every measurement of ``package`` (and the ``extra`` packages, whose top-level modules are not counted)."""
    findings: list[Finding] = []
    top = sorted(p.name for p in package.glob("*.py"))
    findings.append(Finding("top_modules", f"{package.name}/: {', '.join(top)}", len(top), LIMITS["top_modules"]))
    for base in [package, *extra]:
        for path in sorted(base.rglob("*.py")):
            rel = path.relative_to(base.parent)
            text = path.read_text(encoding="utf-8")
            findings.append(Finding("module", str(rel), len(text.splitlines()), LIMITS["module"]))
            module = ".".join(rel.with_suffix("").parts)
            findings.extend(_walk(ast.parse(text, str(path)), module))
    return findings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--package", default=str(ROOT / "wattwatch"), help="package folder (default wattwatch)")
    parser.add_argument("--callbacks", default=str(ROOT / "callbacks"), help="also measure this folder")
    parser.add_argument("--all", action="store_true", help="also print the five largest of each kind")
    args = parser.parse_args(argv)
    extra = [Path(args.callbacks)] if args.callbacks and Path(args.callbacks).is_dir() else []
    findings = check(Path(args.package), extra)
    bad = [f for f in findings if f.violation]
    if args.all:
        for kind in ("module", "class", "function", "top_modules"):
            print(f"-- largest {kind}")
            for f in sorted((f for f in findings if f.kind == kind), key=lambda f: -f.size)[:5]:
                print(f"   {f}")
        notes = [f for f in findings if f.kind == "any_passthrough"]
        if notes:
            print(f"-- *args/**kwargs typed Any (pass-through, not counted): {len(notes)}")
            for f in notes:
                print(f"   {f}")
    print(f"-- violations: {len(bad)}")
    for f in bad:
        print(f"   {f}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

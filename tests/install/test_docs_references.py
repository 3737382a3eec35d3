"""What README.md and docs/ name exists, and what they tell people to type parses (issue 25).

- every relative link (``[text](path#anchor)``) points at a file of the repository, and its anchor at a heading;
- every repository path the text names (``tests/measure/test_projection.py``, ``scripts/demo``, in code or in
  prose) exists -- a glob must match something;
- every ``wattwatch.x.y`` name in code spans imports (a module, or an attribute of one);
- every ``wattwatch ...`` command in a code block or a code span parses with the real parser of our CLI
  (:func:`wattwatch.cli.main.build_parser`, unknown options refused as ``main`` refuses them); a synopsis
  (``[--json]``, ``PATH...``, ``<run_id>``) is not a command and is skipped; ``scripts/demo`` flags parse with
  the demo's own parser.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import re
import shlex
from pathlib import Path

import pytest

from wattwatch.cli.main import COMMANDS, build_parser

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
_IDS = [str(p.relative_to(ROOT)) for p in DOCS]

_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.M | re.S)
_SPAN = re.compile(r"`([^`\n]+)`")
_PATH = re.compile(r"(?<![\w./<-])((?:wattwatch|tests|docs|scripts|benchmarks|callbacks)/[\w./*-]*[\w*/])")
_ROOT_FILES = re.compile(r"(?<![\w./-])(README\.md|constraints\.txt|pyproject\.toml)\b")
_COMMAND_LINE = re.compile(
    r"^(?:wattwatch\s+(?:" + "|".join(COMMANDS) + r"|--help|--version)(?:\s|$)|scripts/demo(?:\s|$))"
)
_TEST_FILE = re.compile(r"(?<![\w/])((?:test|bench)_\w+\.py)\b")
_RELATIVE = re.compile(r"^\.\.?/[\w./-]+\.md$")
_METRIC = re.compile(r"^wattwatch/[\w*]+_[\w*]+$")
"""``wattwatch/energy_kwh``, ``wattwatch/*_energy_j``: the names of the metrics the callbacks log."""
_DOTTED = re.compile(r"^(wattwatch(?:\.\w+)+)(?:\(.*\))?$")


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*\*|\*", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    return {_slug(m.group(1)) for m in re.finditer(r"^#+\s+(.*)$", path.read_text(encoding="utf-8"), re.M)}


@pytest.mark.parametrize("doc", DOCS, ids=_IDS)
def test_every_relative_link_resolves(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    broken = []
    for target in _LINK.findall(text):
        if re.match(r"^[a-z]+:", target):  # http(s), mailto: not ours to fetch (no network in tests)
            continue
        file_part, _, anchor = target.partition("#")
        path = (doc.parent / file_part).resolve() if file_part else doc
        if not path.exists():
            broken.append(f"{target}: no such file")
        elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
            broken.append(f"{target}: no heading #{anchor}")
    assert broken == [], broken


@pytest.mark.parametrize("doc", DOCS, ids=_IDS)
def test_every_repository_path_named_exists(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    missing = []
    for name in set(_PATH.findall(text)) | set(_ROOT_FILES.findall(text)):
        name = name.rstrip(".")
        if _METRIC.match(name):
            continue  # a Trainer log key (wattwatch/energy_kwh), not a path
        if "*" in name:
            if not list(ROOT.glob(name)):
                missing.append(name)
        elif not (ROOT / name).exists():
            missing.append(name)
    for name in set(_TEST_FILE.findall(text)):  # a test or benchmark named by its file name alone
        if not list(ROOT.glob(f"tests/**/{name}")) and not list(ROOT.glob(f"benchmarks/**/{name}")):
            missing.append(name)
    for target in [*_SPAN.findall(text), *_LINK.findall(text)]:  # ../elsewhere.md: relative to the page
        if _RELATIVE.match(target) and not (doc.parent / target).exists():
            missing.append(f"{target} (from {doc.parent.relative_to(ROOT) if doc.parent != ROOT else '.'})")
    assert sorted(missing) == [], sorted(missing)


@pytest.mark.parametrize("doc", DOCS, ids=_IDS)
def test_every_dotted_name_imports(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    missing = []
    for span in _SPAN.findall(text):
        m = _DOTTED.match(span.strip())
        if m:
            try:
                _resolve(m.group(1))
            except (ImportError, AttributeError) as exc:
                missing.append(f"{m.group(1)}: {exc}")
    assert missing == [], missing


def _resolve(dotted: str) -> object:
    """The module or attribute ``dotted`` names (``wattwatch.a.b.Name.attr``)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        name = ".".join(parts[:cut])
        try:
            obj: object = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and not name.startswith(exc.name):
                raise  # the module exists but an optional import inside it is missing
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def _commands(text: str) -> list[str]:
    """The ``wattwatch ...`` and ``scripts/demo ...`` command lines of the code blocks (fenced, or indented by
    four spaces): what people copy."""
    found: list[str] = []
    indented = re.findall(r"^(?: {4}|\t)\s*(?:\$\s*)?(\S.*)$", _FENCE.sub("", text), re.M)
    found += [re.sub(r"\s+#.*$", "", line).strip() for line in indented if _COMMAND_LINE.match(line)]
    for block in _FENCE.findall(text):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = re.sub(r"^\s*\$\s*", "", line)
            line = re.sub(r"\s+#.*$", "", line)  # a shell comment
            if _COMMAND_LINE.match(line):
                found.append(line.strip())
    return found


def _mentions(text: str) -> list[str]:
    """The ``wattwatch COMMAND ...`` code spans of the prose: a command named with some of its options."""
    pattern = r"^wattwatch (" + "|".join(COMMANDS) + r")\b"
    return [span.strip() for span in _SPAN.findall(text) if re.match(pattern, span)]


def _is_synopsis(line: str) -> bool:
    return any(mark in line for mark in ("[", "...", "<", "{", "|"))


def _demo_parser() -> argparse.ArgumentParser:
    spec = importlib.util.spec_from_file_location("wattwatch_demo_doc", ROOT / "scripts" / "demo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    parser: argparse.ArgumentParser = module.build_parser()
    return parser


def _subparser(command: str) -> argparse.ArgumentParser:
    (action,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return action.choices[command]  # type: ignore[no-any-return]


@pytest.mark.parametrize("doc", DOCS, ids=_IDS)
def test_every_command_shown_parses(doc: Path) -> None:
    failures = []
    commands = [c for c in _commands(doc.read_text(encoding="utf-8")) if not _is_synopsis(c)]
    for line in commands:
        argv = shlex.split(line)
        for i, word in enumerate(argv):  # a shell redirection ends the command's own arguments
            if word in (">", ">>", "2>", "2>&1", "&&", ";"):
                argv = argv[:i]
                break
        parser = _demo_parser() if argv[0] == "scripts/demo" else build_parser()
        try:
            args, extras = parser.parse_known_args(argv[1:])
        except SystemExit:
            failures.append(f"{line}: refused by the parser")
            continue
        if extras:
            failures.append(f"{line}: unrecognized {extras}")
        elif argv[0] == "wattwatch" and not getattr(args, "_run", None) and "--help" not in argv:
            failures.append(f"{line}: no command")
    assert failures == [], failures


@pytest.mark.parametrize("doc", DOCS, ids=_IDS)
def test_every_command_named_in_prose_has_the_options_it_shows(doc: Path) -> None:
    """``wattwatch report --html`` in a sentence: the command exists and has ``--html`` (a span need not be a
    whole command line; the options it names must be real)."""
    failures = []
    for span in _mentions(doc.read_text(encoding="utf-8")):
        words = span.split()
        parser, rest = _subparser(words[1]), words[2:]
        nested = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if nested and rest and rest[0] in nested[0].choices:  # an action: `wattwatch ledger push --db`
            parser, rest = nested[0].choices[rest[0]], rest[1:]
        known = {o for a in parser._actions for o in a.option_strings}
        for word in rest:
            if word == "--":
                break
            option = word.split("=", 1)[0].rstrip(",.;:)")
            if option.startswith("--") and option not in known:
                failures.append(f"{span}: wattwatch {words[1]} has no {option}")
    assert failures == [], failures


def test_the_docs_show_commands_at_all() -> None:
    """The extraction works: the pages do show commands (a regex gone wrong would pass everything)."""
    every = [c for doc in DOCS for c in _commands(doc.read_text(encoding="utf-8")) if not _is_synopsis(c)]
    assert len(every) >= 12
    assert {shlex.split(c)[1] for c in every if c.startswith("wattwatch ")} >= {"run", "report", "compare"}


def test_readme_says_how_to_install_from_a_clone() -> None:
    """wattwatch is not on PyPI: the README says so and installs from a clone; no page tells people to
    ``pip install wattwatch`` (which finds nothing) except to say it does not work."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    install = readme[readme.index("## Install") : readme.index("## Try it")]
    assert "not published on PyPI" in install and "pip install -e ." in install and "git clone" in install
    for doc in DOCS:
        for line in doc.read_text(encoding="utf-8").splitlines():
            if re.search(r"pip install '?\"?wattwatch\b", line):
                assert "finds nothing" in line or "not published" in line, (doc.name, line)


def test_the_defaults_the_docs_give_are_the_codes() -> None:
    """A default a page states next to its option is the one the code uses (cli.md said the flush's was 10 s)."""
    from wattwatch.run.defaults import DEFAULT_FLUSH_EVERY_S

    stated = []
    for doc in DOCS:
        text = re.sub(r"\s+", " ", doc.read_text(encoding="utf-8"))
        for m in re.finditer(r"(?:flush[-_]every[-_]s|flush)\W[^.;]{0,80}?\(default (\d+(?:\.\d+)?) ?s?\)", text):
            stated.append((doc.name, float(m.group(1))))
        for m in re.finditer(r"every (\d+) s on a fixed grid", text):
            stated.append((doc.name, float(m.group(1))))
    assert stated, "no flush default found in the docs (the pattern no longer matches what they say)"
    assert all(value == DEFAULT_FLUSH_EVERY_S for _, value in stated), stated


def test_the_textbook_is_named_where_it_is_cited() -> None:
    """ "The book" is a Green-AI textbook section (docs/planning.md says which, without inventing a title); a page
    that cites it says so or points there."""
    planning = (ROOT / "docs" / "planning.md").read_text(encoding="utf-8")
    assert "Green-AI textbook" in planning and "reducing" in planning and "title" in planning
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        if re.search(r"\b(?:the book|textbook)", text) and doc.name != "planning.md":
            assert "planning.md" in text, doc.name

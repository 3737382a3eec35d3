"""Bad input to ``wattwatch levers`` (and a hostile ``--levers`` file for ``report``): one line on stderr that
says what to do, exit code 2, no traceback, before any model loads."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wattwatch.cli.main import main
from wattwatch.levers.results import sweep_from_json


def _run(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    return code, err.getvalue()


def _one_line(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "is empty"),
        (b"  \n\n\t\n", "is empty"),
        (b"\x00\x01binary\x00", "is not text"),
        (b"caf\xe9 au lait\n", "is not UTF-8 text"),
    ],
)
def test_prompt_file_that_is_empty_or_not_text(tmp_path: Path, content: bytes, needle: str) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_bytes(content)
    _one_line(*_run(["levers", "tiny-gpt2", "--prompts", str(prompts)]), "prompt file", needle)


def test_missing_files_and_folders(tmp_path: Path) -> None:
    _one_line(*_run(["levers", "tiny-gpt2", "--prompts", str(tmp_path / "nope.txt")]), "cannot read prompt file")
    _one_line(*_run(["levers", "tiny-gpt2", "--eval-text", str(tmp_path)]), "is a folder")
    _one_line(*_run(["levers", "tiny-gpt2", "--html", str(tmp_path / "no" / "such" / "x.html")]), "--html")
    _one_line(*_run(["levers", "tiny-gpt2", "--html", str(tmp_path)]), "is a folder; give a file name")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--batch-sizes", "1,x"], "not a whole number"),
        (["--batch-sizes", "0"], "out of range"),
        (["--dtypes", "fp32,fp8"], "unknown precision 'fp8' (choose from fp32,bf16,fp16,int8,int4)"),
        (["--new-tokens", "0"], "--new-tokens"),
        (["--window-s", "0"], "--window-s"),
        (["--window-s", "nan"], "--window-s"),
        (["--threads", "0"], "--threads"),
    ],
)
def test_bad_options(args: list[str], needle: str) -> None:
    _one_line(*_run(["levers", "tiny-gpt2", *args]), needle)


def test_three_models_are_refused() -> None:
    _one_line(*_run(["levers", "tiny-gpt2", "tiny-mixtral", "tiny-gpt2"]), "at most two models")


def test_a_model_that_cannot_be_loaded(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    _one_line(*_run(["levers", "./no-such-model"]), "cannot load model './no-such-model'", "no such folder")
    empty = tmp_path / "empty-model"
    empty.mkdir()
    _one_line(*_run(["levers", str(empty)]), f"cannot load model {str(empty)!r}")
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": "gpt2", "n_layer": ')
    _one_line(*_run(["levers", str(broken)]), f"cannot load model {str(broken)!r}")
    weird = tmp_path / "weird-model"
    weird.mkdir()
    (weird / "config.json").write_text(json.dumps({"model_type": "no-such-architecture"}))
    _one_line(*_run(["levers", "tiny-gpt2", str(weird)]), f"cannot load model {str(weird)!r}")


def test_the_same_model_twice_is_refused() -> None:
    pytest.importorskip("transformers")
    _one_line(*_run(["levers", "tiny-gpt2", "tiny-gpt2"]), "the two models are the same")


def test_report_levers_file_is_checked(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    bad = tmp_path / "levers.json"
    for content in (b"not json", b'{"configs": 3}', b'{"configs": [{"model": 1}]}', b"\xff\xfe"):
        bad.write_bytes(content)
        _one_line(*_run(["report", str(runs), "--html", str(tmp_path / "r.html"), "--levers", str(bad)]), "--levers")
    bad.write_text('{"configs": []}')
    _one_line(*_run(["report", str(runs), "--levers", str(bad)]), "give --html FILE too")


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=6),
    max_leaves=30,
)
_CONFIG_KEYS = ["model", "dtype", "batch_size", "energy_j", "tokens_per_s", "perplexity", "requests",
                "duration_s", "peak_memory_mb", "agreement", "pareto"]  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(
        _JSON,
        st.fixed_dictionaries({"configs": st.lists(st.dictionaries(st.sampled_from(_CONFIG_KEYS), _JSON), max_size=3)}),
        st.fixed_dictionaries({"configs": st.just([]), "comparison": _JSON, "skipped": _JSON, "notes": _JSON}),
    )
)
def test_levers_json_reader_takes_anything(data: object) -> None:
    """Whatever a file holds, the reader returns a result or raises ValueError -- nothing else."""
    try:
        result = sweep_from_json(data)
    except ValueError:
        return
    from wattwatch.levers.html import levers_section

    assert "<script" not in levers_section(result)


def test_hostile_names_stay_text_in_the_section_and_the_table() -> None:
    evil = "<script>fetch('http://127.0.0.1:9/')</script>\x1b[2J"
    data = {
        "configs": [
            {"model": evil, "dtype": "fp32", "batch_size": 1, "energy_j": 2.0, "tokens_per_s": 10.0,
             "perplexity": 3.0, "duration_s": 1.0, "requests": [
                 {"prompt_tokens": 4, "new_tokens": 10, "energy_j": 2.0, "prefill_j": 0.5, "decode_j": 1.5}]}
        ],
        "skipped": [{"model": evil, "dtype": "int4", "reason": evil}],
    }  # fmt: skip
    from wattwatch.levers.html import levers_section
    from wattwatch.levers.text import render_text

    result = sweep_from_json(data)
    section = levers_section(result)
    assert "<script" not in section and "&lt;script&gt;" in section
    assert "\x1b" not in render_text(result) and "\x1b" not in section

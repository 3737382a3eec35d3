"""``lazy_names``: a package's public names imported on first use, kept afterwards, and nothing else served."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest

from wattwatch.util.lazy import lazy_names


def test_a_name_is_imported_on_first_use_and_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    home = types.ModuleType("lazyhome_for_test")
    home.answer = 42  # type: ignore[attr-defined]
    package = types.ModuleType("lazypkg_for_test")
    monkeypatch.setitem(sys.modules, "lazyhome_for_test", home)
    monkeypatch.setitem(sys.modules, "lazypkg_for_test", package)
    getattr_, dir_ = lazy_names("lazypkg_for_test", {"answer": "lazyhome_for_test"}, ["answer"])
    package.__getattr__ = getattr_  # type: ignore[attr-defined]
    package.__dir__ = dir_  # type: ignore[method-assign]

    assert "answer" not in vars(package)
    assert package.answer == 42  # type: ignore[attr-defined]
    assert vars(package)["answer"] == 42  # kept: the next lookup is a plain attribute read
    assert dir(package) == ["answer"]
    with pytest.raises(AttributeError, match="module 'lazypkg_for_test' has no attribute 'question'"):
        package.question  # type: ignore[attr-defined]  # noqa: B018


def test_the_packages_load_nothing_behind_their_names_until_asked() -> None:
    code = (
        "import sys\n"
        "import wattwatch, wattwatch.report, wattwatch.callbacks\n"
        "assert not {'wattwatch.run.tracker', 'wattwatch.report.html', 'wattwatch.report.runs',\n"
        "            'wattwatch.callbacks.huggingface', 'wattwatch.callbacks.torch'} & set(sys.modules)\n"
        "assert 'Tracker' in dir(wattwatch) and 'load_report' in dir(wattwatch.report)\n"
        "from wattwatch.report import pareto_front\n"
        "assert 'wattwatch.report.runs' in sys.modules and 'wattwatch.report.html' not in sys.modules\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "ok"

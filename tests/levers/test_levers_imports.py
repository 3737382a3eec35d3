"""torch and transformers load only on the ``levers`` command's path: not with ``import wattwatch``, the levers
package, its attribution API (a serving loop's import), GenerationMeter, nor ``wattwatch --help``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ["torch", "transformers", "numpy"]


def _loaded_by(statement: str) -> list[str]:
    code = f"import sys, json\n{statement}\nprint(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    return list(json.loads(out.strip().splitlines()[-1]))


def test_levers_library_and_cli_parser_import_no_framework() -> None:
    statement = (
        "import wattwatch, wattwatch.levers\n"
        "from wattwatch.levers import RequestAttributor, RequestEnergy, GenerateRecorder\n"
        "from wattwatch.levers.results import sweep_from_json\n"
        "from wattwatch.levers.html import levers_section\n"
        "from wattwatch.callbacks.torch import GenerationMeter\n"
        "from wattwatch.cli.main import build_parser\n"
        "build_parser()"
    )
    assert _loaded_by(statement) == []

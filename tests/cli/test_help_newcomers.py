"""The command line's help and errors the first hour (issue 25): every default said once and true, a misspelt
option or command answered with what was meant, one default intensity, a forecast for later today."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from wattwatch import planning
from wattwatch.carbon.intensity import WORLD_AVERAGE_G_PER_KWH
from wattwatch.cli.commands import schedule
from wattwatch.cli.main import COMMANDS, build_parser, main
from wattwatch.measure.sampler import COUNTER_INTERVAL_S, POWER_INTERVAL_S
from wattwatch.util.times import parse_utc

DATA = Path(__file__).resolve().parents[1] / "data"


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_option_says_its_default_at_most_once(command: str) -> None:
    sub = _subparsers()[command]
    for action in sub._actions:
        text = action.help or ""
        assert len(re.findall(r"\(default\b", text)) <= 1, (command, action.option_strings, text)
    whole = re.sub(r"\s+", " ", sub.format_help())
    assert "emissions.csv) (default emissions.csv)" not in whole and "(default /proc) (default" not in whole


def test_the_sampling_interval_help_is_the_samplers() -> None:
    text = next(a.help for a in _subparsers()["run"]._actions if "--measure-power-secs" in a.option_strings)
    assert text is not None
    assert f"default {COUNTER_INTERVAL_S:g} when every GPU has an energy counter" in text
    assert f"else {POWER_INTERVAL_S:g}" in text and "0.1" not in text


_TYPOS = {
    "run": ["run", "--contry-iso-code", "FRA", "--", "true"],
    "report": ["report", ".", "--limt", "3"],
    "plot": ["plot", "x", "--otu", "a.png"],
    "merge": ["merge", ".", "--dryrun"],
    "estimate": ["estimate", "--gpu", "H100", "--huors", "3"],
    "compare": ["compare", "--dense-params", "1e9", "--moe-active-params", "1e8", "--tokens", "1e9", "--infrence"],
    "regions": ["regions", "--gpu-hours", "1", "--max-cots", "5"],
    "schedule": ["schedule", "--forecast", "f.csv", "--duration-hours", "1", "--deadline", "x", "--gpu-wats", "3"],
    "levers": ["levers", "tiny-gpt2", "--new-tokns", "4"],
    "ledger": ["ledger", "push", ".", "--dbb", "sqlite:///x.db"],
    "check": ["check", ".", "--jsn"],
}
_MEANT = {
    "run": "--country-iso-code",
    "report": "--limit",
    "plot": "--out",
    "merge": "--dry-run",
    "estimate": "--hours",
    "compare": "--inference",
    "regions": "--max-cost",
    "schedule": "--gpu-watts",
    "levers": "--new-tokens",
    "ledger": "--db",
    "check": "--json",
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_misspelt_option_gets_did_you_mean(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert set(_TYPOS) == set(COMMANDS)  # a new command gets its case here
    with pytest.raises(SystemExit) as exit_:
        main(_TYPOS[command])
    assert exit_.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    prog = "wattwatch ledger push" if command == "ledger" else f"wattwatch {command}"
    assert line.startswith(f"{prog}: error: unrecognized arguments: "), line
    assert f"did you mean {_MEANT[command]}?" in line, line
    assert f"(see {prog} --help)" in line


def test_a_misspelt_command_or_choice_gets_did_you_mean(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["reprot", "."])
    assert "did you mean 'report'?" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["run", "--tracking-mode", "procss", "--", "true"])
    assert "did you mean 'process'?" in capsys.readouterr().err


def test_the_commands_own_arguments_are_never_taken_for_ours(capsys: pytest.CaptureFixture[str]) -> None:
    """After ``--`` everything is the command's, misspelt or not."""
    args = build_parser().parse_args(["run", "--", "python", "train.py", "--limt", "3"])
    assert args.cmd[-3:] == ["train.py", "--limt", "3"]


def test_estimate_and_the_tracker_share_one_default_intensity(capsys: pytest.CaptureFixture[str]) -> None:
    assert planning.DEFAULT_G_PER_KWH == WORLD_AVERAGE_G_PER_KWH == 475.0
    assert main(["estimate", "--gpu", "H100", "--hours", "1"]) == 0
    out = capsys.readouterr().out
    assert "at 475.0 gCO2eq/kWh (no place given: the world average 475 g/kWh, as the tracker uses" in out


def test_schedule_with_a_forecast_for_later_today_needs_no_now(capsys: pytest.CaptureFixture[str]) -> None:
    ns = argparse.Namespace(
        forecast=str(DATA / "planning_forecast.csv"), duration_hours=2.5, deadline="2025-03-01T20:00Z",
        now=None, gpus=1, gpu_watts=700.0, pue=1.1,
    )  # fmt: skip
    morning = parse_utc("2025-02-28T22:30Z")[0]  # the forecast starts at midnight
    assert schedule.run(ns, clock=lambda: morning) == 0
    out = capsys.readouterr().out
    assert "earliest     2025-03-01 00:00 UTC" in out and "after now, 2025-02-28 22:30 UTC" in out
    assert "best start   2025-03-01 09:00 UTC" in out

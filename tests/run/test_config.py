"""TrackerConfig: the single source of the Tracker's options, their validation and the CLI's options."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
from pathlib import Path

import pytest

from wattwatch.cli.options import add_tracker_options, cli_specs, tracker_kwargs
from wattwatch.errors import ConfigurationError
from wattwatch.run.config import TrackerConfig, option
from wattwatch.run.tracker import Tracker


def test_tracker_keywords_are_the_config_fields_in_order_with_the_same_defaults() -> None:
    """The Tracker's signature and the config cannot drift apart: a new option added to one only fails here."""
    params = [p for p in inspect.signature(Tracker.__init__).parameters.values() if p.name != "self"]
    fields = dataclasses.fields(TrackerConfig)
    assert [p.name for p in params] == [f.name for f in fields]
    for p, f in zip(params, fields, strict=True):
        assert p.default == f.default, p.name


def test_from_kwargs_normalises_values() -> None:
    c = TrackerConfig.from_kwargs(output_dir="out", gpu_ids="0, 1,GPU-abc", pue="1.5", total_steps=10.0)
    assert c.output_dir == Path("out")
    assert c.gpu_ids == (0, 1, "GPU-abc")
    assert c.pue == 1.5 and isinstance(c.pue, float)
    assert c.total_steps == 10 and isinstance(c.total_steps, int)
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.pue = 2.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pue": 0.9}, "pue must be >= 1.0"),
        ({"pue": True}, "pue must be a positive number"),
        ({"wue": -1}, "wue must be a number >= 0"),
        ({"tracking_mode": "gpu"}, "tracking_mode must be 'machine' or 'process'"),
        ({"log_level": "loud"}, "log_level must be one of"),
        ({"log_level": 1.5}, "log_level must be one of"),
        ({"output_file": "a/b.csv"}, "output_file must be a file name"),
        ({"prometheus_port": 70000}, "prometheus_port must be between 0 and 65535"),
        ({"total_steps": 2.5}, "total_steps must be a positive integer"),
        ({"gpu_ids": "-1"}, "gpu_ids entries must be >= 0"),
        ({"flush_every_s": float("inf")}, "flush_every_s must be a positive number"),
        ({"project_name": " "}, "project_name must be a non-empty string"),
        ({"cgroup_root": None}, "cgroup_root must be a folder path"),
        ({"hwmon_root": 3}, "hwmon_root must be a folder path"),
        ({"proc_root": ""}, "proc_root must be a folder path"),
    ],
)
def test_bad_options_are_configuration_errors_naming_the_option(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        TrackerConfig.from_kwargs(**kwargs)


def test_valid_log_levels_are_accepted_in_any_case() -> None:
    assert TrackerConfig.from_kwargs(log_level="debug").log_level == "DEBUG"
    assert TrackerConfig.from_kwargs(log_level=20).log_level == 20


def test_cli_options_come_from_the_config_help() -> None:
    names = [s.name for s in cli_specs()]
    helped = [f.name for f in dataclasses.fields(TrackerConfig) if f.metadata.get("help")]
    assert sorted(names) == sorted(helped)
    for hidden in ("sensors", "clock", "wall_clock", "pid", "handle_signals", "environ"):
        assert hidden not in names


def test_adding_an_option_is_one_field() -> None:
    """A field with ``option(..., help=...)`` becomes a validated command-line option, with nothing else to edit."""

    def _even(name: str, value: object) -> int:
        if not isinstance(value, int) or value % 2:
            raise ConfigurationError(f"{name} must be even; got {value!r}")
        return value

    @dataclasses.dataclass(frozen=True)
    class Extended(TrackerConfig):
        batch_pairs: int = option(2, check=_even, help="an even number of things")

    spec = next(s for s in cli_specs(Extended) if s.name == "batch_pairs")
    assert spec.kind is int and spec.help_text == "an even number of things (default 2)"
    assert Extended.from_kwargs(batch_pairs=4).batch_pairs == 4
    with pytest.raises(ConfigurationError, match="batch_pairs must be even"):
        Extended.from_kwargs(batch_pairs=3)


def test_cli_round_trip_keeps_types_and_help() -> None:
    parser = argparse.ArgumentParser()
    add_tracker_options(parser)
    args = parser.parse_args(["--tracking-mode", "process", "--flush-every-s", "2", "--no-save-to-file"])
    assert tracker_kwargs(args) == {"tracking_mode": "process", "flush_every_s": 2.0, "save_to_file": False}
    text = parser.format_help()
    assert "--pue PUE" in text and "(default 1.0)" in text
    assert "--gpu-ids GPU_IDS" in text
    with pytest.raises(SystemExit):
        parser.parse_args(["--tracking-mode", "gpu"])

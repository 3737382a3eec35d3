"""find_tdp: the targeted scan gives exactly what parsing the whole table gives, on CodeCarbon's real table and on
hand-made tables with the CSV's awkward rows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from wattwatch.carbon.codecarbon_data import codecarbon_data_dir
from wattwatch.sensors.cpu import CpuModelSensor
from wattwatch.sensors.cpuinfo import (
    DEFAULT_TDP_W,
    TdpMatch,
    load_tdp_table,
    lookup_tdp,
    normalize_cpu_name,
    tdp_csv_path,
)
from wattwatch.sensors.tdp_index import candidate_lines, find_tdp, small_table

needs_csv = pytest.mark.skipif(codecarbon_data_dir() is None, reason="CodeCarbon data not installed")


def write_table(data_dir: Path, text: str, *, newline: str = "\n") -> Path:
    path = data_dir / "hardware" / "cpu_power.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.replace("\n", newline).encode("utf-8"))
    return data_dir


def scan(text: str, model: str) -> TdpMatch:
    """find_tdp's steps on text already read (the real table is read once for hundreds of names)."""
    header = text.split("\n", 1)[0]
    return lookup_tdp(model, small_table(header, candidate_lines(text, normalize_cpu_name(model))))


def proc_cpuinfo_style(name: str) -> str:
    """How /proc/cpuinfo would spell a table name: trademarks, 'CPU @ frequency', vendor words kept."""
    out = re.sub(r"\b(Intel|Xeon|Core|Atom|Celeron|Pentium)\b", r"\1(R)", name)
    return out + " CPU @ 2.40GHz"


@needs_csv
def test_same_answer_as_the_whole_table_over_the_real_table() -> None:
    path = tdp_csv_path()
    assert path is not None
    text = path.read_text(encoding="utf-8")
    table = load_tdp_table()
    names = [row.rsplit(",", 1)[0].strip('"') for row in text.splitlines()[1:] if row]
    assert len(names) > 4000
    for name in names[::4]:  # exact matches: a quarter of the table's rows, spread over all of it
        assert scan(text, name) == lookup_tdp(name, table), name
    partial = 0
    for name in names[1::23]:  # partial and decorated matches: without the vendor, as /proc/cpuinfo writes it
        without_vendor = " ".join(w for w in name.split() if w.lower() not in ("intel", "amd"))
        for model in (without_vendor, proc_cpuinfo_style(name), name + " Eight-Core Processor"):
            expected = lookup_tdp(model, table)
            partial += expected.source == "codecarbon-csv-partial"
            assert scan(text, model) == expected, model
    assert partial > 50  # the partial rule is really exercised
    for model in ("AMD EPYC", "", "Frobnicator 9000 CPU", "QEMU Virtual CPU version 2.5+", "v2", "E5"):
        assert scan(text, model) == lookup_tdp(model, table), model


@needs_csv
@pytest.mark.parametrize(
    ("raw", "table_name", "tdp", "source"),
    [
        (
            "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz",
            "Intel Xeon Platinum 8375C",
            300.0,
            "codecarbon-csv",
        ),
        ("AMD EPYC 7R13 Processor", "AMD EPYC 7R13", 225.0, "codecarbon-csv"),
        ("Xeon Platinum 8375C", "Intel Xeon Platinum 8375C", 300.0, "codecarbon-csv-partial"),
        ("AMD EPYC", "", DEFAULT_TDP_W, "default"),
    ],
)
def test_real_names_read_few_lines(raw: str, table_name: str, tdp: float, source: str) -> None:
    assert find_tdp(raw) == TdpMatch(tdp, table_name, source)
    path = tdp_csv_path()
    assert path is not None
    text = path.read_text(encoding="utf-8")
    # The point of the scan: a handful of rows normalised, not the ~4,900 of the table.
    assert len(candidate_lines(text, normalize_cpu_name(raw))) < 200


AWKWARD = """Name,TDP
Intel Xeon Gold 6148,150
Intel Xeon Gold 6148,999
"Intel Core i7+8700  (12M Cache, up to 4.60 GHz) includes Intel Optane Memory",65.0
Intel Xeon Silver 4110,0
Intel Xeon Silver 4114,not a number
Intel Xeon Silver 4116,
AMD Ryzen 5 3580U Microsoft Surface\u00ae Edition,15
AMD Ryzen 9 6900HS\u200b,35.0
Intel Xeon E5-2680 v2,115
Intel Xeon E5-2680 v3,120
Xeon 6148 Special,77
AMD EPYC,180
Intel Xeon Platinum 8480+Processor,350
Intel Xeon 2nd Gen-9000X,100
"""

MODELS = [
    "Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz",  # exact, first of two rows wins
    "Intel Core i7+8700  (12M Cache, up to 4.60 GHz) includes Intel Optane Memory",  # quoted, commas inside
    "Intel(R) Xeon(R) Silver 4110 CPU @ 2.10GHz",  # TDP 0: skipped
    "Intel Xeon Silver 4114",  # bad TDP: skipped
    "Intel Xeon Silver 4116",  # empty TDP: skipped
    "AMD Ryzen 5 3580U Microsoft Surface\u00ae Edition",  # non-ASCII mark
    "AMD Ryzen 9 6900HS\u200b",  # zero-width space kept in the word
    "Intel(R) Xeon(R) CPU E5-2680 v2 @ 2.80GHz",  # exact once 'CPU' and the frequency are stripped
    "Xeon E5-2680 v3 special edition",  # partial, no vendor
    "Intel Xeon Gold 6148 Special",  # two partial candidates: the one with more words wins
    "AMD EPYC",  # exact match without any digit
    "AMD EPYC 9999",  # no row with 9999: the digit-less 'AMD EPYC' is not a partial match
    "Intel(R) Xeon(R) Platinum 8480+",  # the row's word '8480+' is glued to 'Processor' (stripped) in the file
    "Intel Xeon -9000X",  # the row's word '-9000x' is glued to '2nd Gen' (stripped) in the file
]


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_awkward_rows_match_the_whole_table(tmp_path: Path, newline: str) -> None:
    data_dir = write_table(tmp_path, AWKWARD, newline=newline)
    table = load_tdp_table(data_dir)
    assert len(table) > 6
    for model in MODELS:
        assert find_tdp(model, data_dir) == lookup_tdp(model, table), model
    assert find_tdp(MODELS[0], data_dir) == TdpMatch(150.0, "Intel Xeon Gold 6148", "codecarbon-csv")
    assert find_tdp(MODELS[2], data_dir).source == "default"
    assert find_tdp(MODELS[7], data_dir) == TdpMatch(115.0, "Intel Xeon E5-2680 v2", "codecarbon-csv")
    assert find_tdp(MODELS[8], data_dir) == TdpMatch(120.0, "Intel Xeon E5-2680 v3", "codecarbon-csv-partial")
    assert find_tdp(MODELS[11], data_dir).source == "default"
    assert find_tdp(MODELS[12], data_dir).tdp_w == 350.0
    assert find_tdp(MODELS[13], data_dir).tdp_w == 100.0


def test_columns_in_another_order(tmp_path: Path) -> None:
    data_dir = write_table(tmp_path, "TDP,Name\n205,Intel Xeon Gold 6254\n")
    assert find_tdp("Intel(R) Xeon(R) Gold 6254 CPU @ 3.10GHz", data_dir) == TdpMatch(
        205.0, "Intel Xeon Gold 6254", "codecarbon-csv"
    )
    assert lookup_tdp("Intel Xeon Gold 6254", load_tdp_table(data_dir)).tdp_w == 205.0


def test_missing_unreadable_or_headless_table_gives_default(tmp_path: Path) -> None:
    default = TdpMatch(DEFAULT_TDP_W, "", "default")
    assert find_tdp("Intel Xeon Gold 6148", tmp_path / "absent") == default
    bad = tmp_path / "bad"
    (bad / "hardware").mkdir(parents=True)
    (bad / "hardware" / "cpu_power.csv").write_bytes(b"Name,TDP\nIntel Xeon Gold 6148,\xff150\n")
    assert find_tdp("Intel Xeon Gold 6148", bad) == default
    assert (
        find_tdp("Intel Xeon Gold 6148", write_table(tmp_path / "noheader", "Intel Xeon Gold 6148,150"))
        == default
    )
    assert (
        find_tdp(
            "Intel Xeon Gold 6148", write_table(tmp_path / "nocols", "Model,Watts\nIntel Xeon Gold 6148,1\n")
        )
        == default
    )


def test_cpu_sensor_takes_its_tdp_from_the_scan(tmp_path: Path) -> None:
    data_dir = write_table(tmp_path / "data", AWKWARD)
    proc = tmp_path / "proc"
    proc.mkdir()
    blocks = [
        f"processor\t: {i}\nmodel name\t: Intel(R) Xeon(R) E5-2680 v3 Special Edition @ 2.80GHz\nphysical id\t: {i // 2}"
        for i in range(4)
    ]
    (proc / "cpuinfo").write_text("\n\n".join(blocks) + "\n")
    dmi = tmp_path / "dmi"  # empty: bare metal, the table's TDP per socket applies
    dmi.mkdir()
    sensor = CpuModelSensor(
        proc_root=proc, dmi_root=dmi, data_dir=data_dir, machine_seconds=lambda: (0.0, 1.0)
    )
    assert (sensor.tdp_w, sensor.tdp_source) == (240.0, "codecarbon-csv-partial")  # 2 sockets x 120 W

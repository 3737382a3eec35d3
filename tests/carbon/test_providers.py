"""Live intensity providers against a local HTTP server on 127.0.0.1 that answers as Electricity Maps and
WattTime document (tests/support/fakeproviders.py): the shared cache (two processes, one request), an
unreachable provider, malformed answers, and the fallbacks the row's source names."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakeproviders import ProviderServer
from fakesensors import ConstantPowerSensor
from hypothesis import given, settings
from hypothesis import strategies as st

from wattwatch.carbon.intensity import resolve_intensity
from wattwatch.carbon.providers import electricitymaps as em
from wattwatch.carbon.providers import open_providers
from wattwatch.carbon.providers import watttime as wt
from wattwatch.carbon.providers.base import ProviderData, ProviderError
from wattwatch.carbon.providers.cache import SharedCache
from wattwatch.carbon.providers.live import LiveIntensity
from wattwatch.errors import ConfigurationError
from wattwatch.run.tracker import Tracker

ROOT = Path(__file__).resolve().parents[2]


def tracker(tmp_path: Path, env: dict[str, str], **kw: object) -> Tracker:
    options: dict[str, object] = dict(
        output_dir=tmp_path / "out", sensors=[ConstantPowerSensor(300.0)], country_iso_code="FRA",
        measure_power_secs=0.05, save_timeseries=False, handle_signals=False, environ=env,
    )  # fmt: skip
    options.update(kw)
    return Tracker(**options)  # type: ignore[arg-type]


def wait_for(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError("condition never became true")


def test_electricitymaps_latest_drives_the_ledger_and_the_source(tmp_path: Path) -> None:
    with ProviderServer() as server:
        t = tracker(tmp_path, server.env(tmp_path), intensity_provider="electricitymaps", intensity_zone="FR")
        assert server.requests == []  # nothing is fetched before start()
        t.start()
        live = t.intensity
        assert isinstance(live, LiveIntensity)
        wait_for(lambda: live.feed.data is not None)
        time.sleep(0.3)  # readings with the live figure
        data = t.stop()
    assert data is not None
    assert server.count("/carbon-intensity/latest") == 1
    assert server.count("/forecast") == 0  # no pause rule: no forecast asked for
    assert data.intensity_source.startswith("electricitymaps: Electricity Maps v3 carbon-intensity, zone FR")
    assert "lifecycle" in data.intensity_source
    assert data.country_iso_code == "FRA"  # the location still comes from the options
    if "fell back to the tables" not in data.intensity_source:  # every reading came after the answer
        assert data.intensity_g_per_kwh == pytest.approx(123.0)


def test_two_processes_make_one_request(tmp_path: Path) -> None:
    """Two processes asking at once: the first asks the provider, the second waits on the lock and reads its
    answer from the cache file."""
    script = (
        "import json, os, sys, time\n"
        "from wattwatch.carbon.providers import open_providers\n"
        "from wattwatch.carbon.intensity import resolve_intensity\n"
        "env = json.loads(sys.argv[1])\n"
        "opened = open_providers('electricitymaps', 'FR', resolve_intensity(country_iso_code='FRA'),\n"
        "                        environ=env, wall_clock=time.time, forecast=False)\n"
        "go = sys.argv[2]\n"
        "while not os.path.exists(go): time.sleep(0.005)\n"
        "read = opened.refreshers[0].feed.refresh()\n"
        "print(json.dumps([read.state, read.data.points[0][1]]))\n"
    )
    with ProviderServer() as server:
        server.delay_s = 0.4  # the first request is still in flight when the second process asks
        env = server.env(tmp_path)
        go = tmp_path / "go"
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", script, json.dumps(env), str(go)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
            )  # fmt: skip
            for _ in range(2)
        ]
        time.sleep(0.5)  # both are waiting for the go file
        go.write_text("go")
        outs = [p.communicate(timeout=60) for p in procs]
    results = sorted(json.loads(out.strip()) for out, err in outs)
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    assert server.count("/carbon-intensity/latest") == 1
    assert results == [["fetched", 123.0], ["shared", 123.0]]


def test_an_unreachable_provider_falls_back_to_the_tables_once_warned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    env = {
        "WATTWATCH_ELECTRICITYMAPS_URL": "http://127.0.0.1:9/v3",  # discard port: nothing listens
        "ELECTRICITYMAPS_API_KEY": "k",
        "WATTWATCH_CACHE_DIR": str(tmp_path / "cache"),
    }
    t = tracker(tmp_path, env, intensity_provider="electricitymaps", intensity_zone="FR")
    with caplog.at_level(logging.WARNING, logger="wattwatch"):
        t.start()
        live = t.intensity
        assert isinstance(live, LiveIntensity)
        wait_for(lambda: live.feed.read is not None)
        read = live.feed.refresh()  # within 5 minutes of the failed attempt: not asked again
        data = t.stop()
    assert read is not None and read.state == "none" and "unreachable" in (read.error or "")
    assert data is not None
    table = resolve_intensity(country_iso_code="FRA").at(0)
    assert data.intensity_g_per_kwh == pytest.approx(table)
    assert "fell back to the tables: CodeCarbon" in data.intensity_source
    assert sum("unreachable" in r.getMessage() for r in caplog.records) == 1


def test_a_malformed_answer_keeps_the_last_good_one(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with ProviderServer() as server:
        env = server.env(tmp_path)
        clock = [time.time()]
        opened = open_providers(
            "electricitymaps", "FR", resolve_intensity(country_iso_code="FRA"),
            environ=env, wall_clock=lambda: clock[0], forecast=False,
        )  # fmt: skip
        live = opened.intensity
        assert isinstance(live, LiveIntensity)
        good = live.feed.refresh()
        assert good is not None and good.state == "fetched"
        server.mode["latest"] = "malformed"
        clock[0] += 301  # the shared answer is due again
        with caplog.at_level(logging.WARNING, logger="wattwatch"):
            bad = live.feed.refresh()
        assert bad is not None and bad.state == "stale" and "carbonIntensity is not a number" in (bad.error or "")
        assert live.at(clock[0]) == pytest.approx(123.0)  # the last good answer, still recent
        clock[0] += 2 * 3600  # older than "live": counted as a cached fallback
        assert live.at(clock[0]) == pytest.approx(123.0)
        assert "fell back to the last cached answer" in live.source.description
        clock[0] += 25 * 3600  # older than a day: the tables
        assert live.at(clock[0]) == pytest.approx(resolve_intensity(country_iso_code="FRA").at(0))
        server.mode["latest"] = "error"
        clock[0] += 301
        assert live.feed.refresh().error == f"{server.url[7:]} answered HTTP 500 (Internal Server Error)"  # type: ignore[union-attr]
    assert any("carbonIntensity is not a number" in r.getMessage() for r in caplog.records)


def test_forecast_is_asked_for_only_with_a_pause_rule(tmp_path: Path) -> None:
    with ProviderServer() as server:
        opened = open_providers(
            "electricitymaps", "FR", resolve_intensity(country_iso_code="FRA"),
            environ=server.env(tmp_path), wall_clock=time.time, forecast=True,
        )  # fmt: skip
        live = opened.intensity
        assert isinstance(live, LiveIntensity)
        read = live.feed.refresh()
        series = live.step_series()
    assert read is not None and read.data is not None and read.data.forecast
    assert server.count("/forecast") == 1
    assert series is not None and len(series.points) == 25  # the latest hour, then 24 forecast hours
    assert series.value_at(server.em_hour + 3600 * 3 + 10) == pytest.approx(130.0)


def test_watttime_marginal_signal_fills_the_marginal_column(tmp_path: Path) -> None:
    with ProviderServer() as server:
        t = tracker(tmp_path, server.env(tmp_path), intensity_provider="watttime", intensity_zone="CAISO_NORTH")
        t.start()
        policy = t.policy
        assert policy is not None and policy.marginal is not None
        feed = policy.marginal.feed  # type: ignore[attr-defined]
        wait_for(lambda: feed.data is not None)
        time.sleep(0.8)  # several observations weighted by the signal
        data = t.stop()
    assert data is not None
    assert server.count("/login") == 1 and server.count("/v3/forecast") == 1
    moer = server.moer_lbs[0][1] * 0.45359237
    assert data.marginal_intensity_g_per_kwh == pytest.approx(moer, rel=0.01)
    assert data.marginal_intensity_source.startswith("WattTime v3 marginal (MOER), region CAISO_NORTH")
    assert data.intensity_source.startswith("country")  # the average stays the tables' (accounting)


def test_watttime_without_forecast_access_records_the_percentile(tmp_path: Path) -> None:
    with ProviderServer() as server:
        server.mode["forecast"] = "forbidden"
        client = wt.WattTimeClient("CAISO_NORTH", "wt-user", "wt-pass", f"{server.url}/wt")
        data = client.fetch(wall_clock=time.time)
    assert data.points == () and "percentile 73" in data.note


def test_wrong_credentials_and_units_are_provider_errors(tmp_path: Path) -> None:
    with ProviderServer() as server:
        bad = wt.WattTimeClient("CAISO_NORTH", "wt-user", "nope", f"{server.url}/wt")
        with pytest.raises(ProviderError, match="HTTP 403"):
            bad.fetch(wall_clock=time.time)
        server.mode["forecast"] = "malformed"
        client = wt.WattTimeClient("CAISO_NORTH", "wt-user", "wt-pass", f"{server.url}/wt")
        with pytest.raises(ProviderError, match="furlongs"):
            client.fetch(wall_clock=time.time)
        with pytest.raises(ProviderError, match="HTTP 401"):
            em.fetch("FR", "wrong-key", f"{server.url}/em/v3", forecast=False, wall_clock=time.time)


def test_options_say_what_to_set(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="needs intensity_zone"):
        Tracker(intensity_provider="electricitymaps", environ={"ELECTRICITYMAPS_API_KEY": "k"})
    with pytest.raises(ConfigurationError, match=r"\$ELECTRICITYMAPS_API_KEY"):
        Tracker(intensity_provider="electricitymaps", intensity_zone="FR", environ={})
    with pytest.raises(ConfigurationError, match=r"\$WATTTIME_USER and \$WATTTIME_PASSWORD"):
        Tracker(intensity_provider="watttime", intensity_zone="CAISO_NORTH", environ={"WATTTIME_USER": "u"})
    with pytest.raises(ConfigurationError, match="intensity_provider must be one of"):
        Tracker(intensity_provider="carbonintensity.org.uk")
    with pytest.raises(ConfigurationError, match="intensity_zone must be a zone code"):
        Tracker(intensity_provider="electricitymaps", intensity_zone="../../etc")
    with pytest.raises(ConfigurationError, match="give intensity_provider= too"):
        Tracker(intensity_zone="FR")


def test_a_planted_cache_file_is_ignored(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    cache = SharedCache(folder, "electricitymaps", "FR", "http://x", wall_clock=time.time)
    folder.mkdir()
    cache.path.write_text(json.dumps({"attempted_at": time.time(), "data": {"points": [[1, 1e9]], "step_s": 3600}}))
    fetched = ProviderData(((time.time(), 50.0),), 3600.0, time.time())
    read = cache.get(lambda: fetched)
    assert read.state == "fetched" and read.data == fetched  # the bad file counted as no file
    target = tmp_path / "elsewhere.json"
    target.write_text("{}")
    cache.path.unlink()
    cache.path.symlink_to(target)  # a link planted where the cache file goes is not followed on read
    assert cache.get(lambda: fetched).state == "fetched"


_json = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)
_shaped = st.fixed_dictionaries(
    {"zone": st.sampled_from(["FR", "DE", 3]), "carbonIntensity": _json, "datetime": _json,
     "forecast": st.lists(st.fixed_dictionaries({"carbonIntensity": _json, "datetime": _json}), max_size=3),
     "data": st.lists(st.fixed_dictionaries({"point_time": _json, "value": _json}), max_size=3),
     "meta": st.fixed_dictionaries({"units": st.sampled_from(["lbs_co2_per_mwh", "percentile", 7])}),
     "points": _json, "step_s": _json, "fetched_at": _json}  # fmt: skip
)


@settings(max_examples=100, deadline=None)
@given(st.one_of(_json, _shaped))
def test_readers_of_provider_answers_raise_only_provider_errors(obj: object) -> None:
    readers = [
        lambda: em.parse_latest(obj, "FR"),
        lambda: em.parse_forecast(obj, "FR"),
        lambda: wt.parse_forecast(obj),
        lambda: wt.parse_index(obj),
        lambda: ProviderData.from_json(obj),
    ]
    for read in readers:
        try:
            out = read()
        except ProviderError:
            continue
        if isinstance(out, ProviderData):
            assert all(0 <= g <= 5000 for _, g in out.points)

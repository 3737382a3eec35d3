"""Live grid intensity from a provider, opt-in (``intensity_provider=``): the only network calls wattwatch
makes, and only when a provider is named.

- ``electricitymaps``: the grid's *average* intensity now (and its forecast when a pause rule is set); it
  replaces the tables in the ledger, which fall back to them when the provider fails. Key:
  ``$ELECTRICITYMAPS_API_KEY``. Zone: ``intensity_zone="FR"`` (``DE``, ``US-CAL-CISO``...).
- ``watttime``: the grid's *marginal* emissions rate (MOER) now and ahead; the ledger keeps the average from the
  tables (carbon accounting), the marginal signal drives the pause rule and fills the row's
  ``marginal_intensity_g_per_kwh``. Credentials: ``$WATTTIME_USER``, ``$WATTTIME_PASSWORD``. Zone (region):
  ``intensity_zone="CAISO_NORTH"``.

One request per provider and zone per 5 minutes for every process on the host (:mod:`.cache`); lookups never
wait on the network (:mod:`.live`). See docs/acting.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from wattwatch.carbon.intensity import CarbonIntensity
from wattwatch.errors import ConfigurationError

__all__ = ["OpenedProviders", "open_providers"]


@dataclass
class OpenedProviders:
    """What a named provider gives a tracker: the intensity its ledger uses, the marginal signal (WattTime) and
    the refreshers to start and stop with each run."""

    intensity: CarbonIntensity
    marginal: object | None
    refreshers: list[object]


def _env(environ: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    return next((environ[n] for n in names if environ.get(n)), None)


def open_providers(
    provider: str,
    zone: str | None,
    intensity: CarbonIntensity,
    *,
    environ: Mapping[str, str],
    wall_clock: Callable[[], float],
    forecast: bool,
) -> OpenedProviders:
    """Set up ``provider`` for ``zone`` (nothing is fetched before a run starts). ``ConfigurationError`` saying
    what to set when the zone or the credentials are missing."""
    from wattwatch.carbon.providers.cache import SharedCache, cache_folder
    from wattwatch.carbon.providers.live import LiveIntensity, MarginalFeed, ProviderFeed

    if not zone:
        example = "FR" if provider == "electricitymaps" else "CAISO_NORTH"
        raise ConfigurationError(f"intensity_provider={provider!r} needs intensity_zone= (e.g. {example!r})")
    folder = cache_folder(environ)
    if provider == "electricitymaps":
        from wattwatch.carbon.providers import electricitymaps as em

        key = _env(environ, em.KEY_ENV)
        if not key:
            raise ConfigurationError(
                "intensity_provider='electricitymaps' needs an API key in $ELECTRICITYMAPS_API_KEY "
                "(https://portal.electricitymaps.com)"
            )
        base = (environ.get(em.URL_ENV) or em.DEFAULT_URL).rstrip("/")
        cache = SharedCache(folder, provider, zone, base, wall_clock=wall_clock)

        def fetch_em() -> object:
            return em.fetch(zone, key, base, forecast=forecast, wall_clock=wall_clock)

        feed = ProviderFeed(cache, fetch_em, label="Electricity Maps", need_forecast=forecast, wall_clock=wall_clock)  # type: ignore[arg-type]
        live = LiveIntensity(
            feed, intensity, name="electricitymaps", what=f"Electricity Maps v3 carbon-intensity, zone {zone}", wall_clock=wall_clock
        )
        return OpenedProviders(live, None, [live])
    from wattwatch.carbon.providers import watttime as wt

    user, password = _env(environ, wt.USER_ENV), _env(environ, wt.PASSWORD_ENV)
    if not user or not password:
        raise ConfigurationError(
            "intensity_provider='watttime' needs $WATTTIME_USER and $WATTTIME_PASSWORD (https://watttime.org)"
        )
    base = (environ.get(wt.URL_ENV) or wt.DEFAULT_URL).rstrip("/")
    client = wt.WattTimeClient(zone, user, password, base)
    cache = SharedCache(folder, provider, zone, base, wall_clock=wall_clock)
    feed = ProviderFeed(
        cache, lambda: client.fetch(wall_clock=wall_clock), label="WattTime", need_forecast=False, wall_clock=wall_clock
    )
    marginal = MarginalFeed(feed, what=f"WattTime v3 marginal (MOER), region {zone}", wall_clock=wall_clock)
    return OpenedProviders(intensity, marginal, [marginal])

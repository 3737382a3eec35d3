"""Where the carbon figures come from, in gCO2eq per kWh:

- :mod:`.intensity` -- static and hourly intensities and :func:`~.intensity.resolve_intensity` (number, CSV,
  cloud region, country/region, world average); :mod:`.hourly_csv` reads the hourly CSV (Electricity Maps,
  WattTime, plain);
- :mod:`.intensity_data` / :mod:`.codecarbon_data` -- CodeCarbon's shipped data files and where they are;
- :mod:`.regions` -- the cloud-region catalogue (intensity, price) used by planning;
- :mod:`.embodied` -- the manufacturing footprint of a run's hardware (kg CO2eq) and the run's share of it, on
  Boavizta's data read and matched by :mod:`.embodied_data`.
"""

"""Where the carbon figures come from, in gCO2eq per kWh:

- :mod:`.intensity` -- static and hourly intensities, the hourly CSV reader (Electricity Maps, WattTime, plain)
  and :func:`~.intensity.resolve_intensity` (number, CSV, cloud region, country/region, world average);
- :mod:`.intensity_data` / :mod:`.codecarbon_data` -- CodeCarbon's shipped data files and where they are;
- :mod:`.regions` -- the cloud-region catalogue (intensity, price) used by planning.
"""

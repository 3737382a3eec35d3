"""Where a run's numbers go: emissions.csv, the per-sample time series, Prometheus, the model card."""

__all__: list[str] = []

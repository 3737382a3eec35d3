"""Lightning integration: ``pl.Trainer(callbacks=[WattwatchLightningCallback(country_iso_code="FRA")])``.

Same semantics as the Hugging Face callback:
  - the run starts at ``on_fit_start`` and stops at ``on_fit_end`` (``completed``) or ``on_exception``
    (``failed``; ``interrupted`` for ``KeyboardInterrupt``/``SystemExit``);
  - phases ``train``, ``eval`` (validation and sanity-check loops) and ``checkpoint`` (``on_save_checkpoint``
    to the next batch -- Lightning has no hook after the file is written, so the write is inside the phase only
    up to the next training batch or the end of the fit);
  - metrics through ``pl_module.log_dict`` at each training batch (``wattwatch/energy_kwh``, ...); Lightning
    passes them to every logger at its ``log_every_n_steps`` (with ``logger=False`` nothing is logged, and
    Lightning has nothing to warn about);
  - acting on carbon (docs/acting.md): past ``carbon_budget_kg=`` / ``energy_budget_kwh=`` a checkpoint is saved
    and ``trainer.should_stop`` set (``on_budget="stop"``; status ``budget-stopped``), or ``fit()`` raises
    ``wattwatch.BudgetExceeded`` (``"raise"``); with ``pause_above_g_per_kwh=`` and ``deadline=`` a dirty grid
    means a checkpoint then a wait (phase ``paused``); ``max_steps`` (else ``estimated_stepping_batches``)
    gives the projection and its early warning;
  - state through ``state_dict`` / ``load_state_dict``: Lightning stores it in each checkpoint and restores it
    before ``on_fit_start``, so ``trainer.fit(..., ckpt_path=...)`` continues the run's totals.

Distributed runs: every process runs its own tracker and **every process calls** ``tracker.stop()`` (a collective
when ``torch.distributed`` is initialised); only global rank zero writes files other than the tracker's own.
"""

from __future__ import annotations

import logging
from typing import Any

import lightning.pytorch as pl
from wattwatch.callbacks.torch import log_metrics

from wattwatch.result import EmissionsData
from wattwatch.run.tracker import Tracker

__all__ = ["WattwatchLightningCallback"]

log = logging.getLogger("wattwatch")


class WattwatchLightningCallback(pl.Callback):
    """Track a Lightning fit's energy and CO2. Keyword arguments are :class:`~wattwatch.Tracker`'s (validated
    here); ``output_dir`` defaults to the trainer's ``default_root_dir``. ``log_metrics=False`` keeps the
    ``wattwatch/*`` numbers out of the loggers."""

    def __init__(self, *, log_metrics: bool = True, **tracker_kwargs: Any) -> None:
        Tracker(**tracker_kwargs)  # validate now, before any training
        self.tracker_kwargs = dict(tracker_kwargs)
        self.log_metrics = log_metrics
        self.tracker: Tracker | None = None
        self.final_emissions_data: EmissionsData | None = None
        self._resume: dict[str, Any] | None = None
        self.checkpoints: list[str] = []
        """Checkpoints saved before a budget stop or a pause (their paths)."""

    @property
    def state_key(self) -> str:
        return "WattwatchLightningCallback"

    # -- state -----------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The tracker's state (JSON-serialisable); Lightning saves it in every checkpoint."""
        if self.tracker is not None:
            return {"tracker": self.tracker.state_dict()}
        return {"tracker": self._resume} if self._resume is not None else {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Called by Lightning when a fit resumes from a checkpoint (before ``on_fit_start``)."""
        saved = state_dict.get("tracker") if isinstance(state_dict, dict) else None
        self._resume = dict(saved) if isinstance(saved, dict) else None

    # -- life cycle ------------------------------------------------------------------------------------------
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.tracker is not None and self.tracker.running:
            self._stop("failed")
        kwargs = dict(self.tracker_kwargs)
        kwargs.setdefault("output_dir", trainer.default_root_dir)
        if trainer.max_steps and trainer.max_steps > 0:
            kwargs.setdefault("total_steps", trainer.max_steps)
        else:
            kwargs.setdefault("total_steps", _estimated_steps(trainer))
        tracker = Tracker(**kwargs)
        if self._resume is not None:
            try:
                tracker.load_state_dict(self._resume)
            except ValueError as exc:
                log.warning("wattwatch: cannot continue the checkpoint's run (%s); starting fresh totals", exc)
            self._resume = None
        self.tracker = tracker
        self.final_emissions_data = None
        tracker.set_phase("train")  # before start(): the run's first second is not "(unphased)"
        tracker.start()

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._count(trainer)
        self._stop("completed")

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        interrupted = isinstance(exception, KeyboardInterrupt | SystemExit)
        self._stop("interrupted" if interrupted else "failed")

    def _stop(self, status: str) -> None:
        tracker = self.tracker
        if tracker is None or not tracker.running:
            return
        try:
            self.final_emissions_data = tracker.stop(status)  # every process: a collective when distributed
        except Exception as exc:  # never into the user's training
            log.warning("wattwatch: could not stop the tracker: %r", exc)

    # -- phases and counts -----------------------------------------------------------------------------------
    def _phase(self, name: str) -> None:
        if self.tracker is not None and self.tracker.running and self.tracker.current_phase != name:
            self.tracker.set_phase(name)

    def _count(self, trainer: pl.Trainer) -> None:
        if self.tracker is not None:
            self.tracker.set_counts(steps=trainer.global_step)

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: object, batch_idx: int
    ) -> None:
        self._phase("train")

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: object, batch: object, batch_idx: int
    ) -> None:
        tracker = self.tracker
        if tracker is None or not tracker.running:
            return
        samples = _batch_size(batch)
        tracker.set_counts(steps=trainer.global_step)  # with on_budget="raise", BudgetExceeded leaves fit() here
        if samples:
            tracker.step(0, samples=samples)
        if tracker.policy is not None:
            self._act(trainer, tracker)
        if self.log_metrics and trainer.loggers:  # handed to the loggers every log_every_n_steps (none: no warnings)
            try:
                metrics = log_metrics(tracker.current(refresh=True))
            except Exception as exc:  # never into the user's training
                log.warning("wattwatch: could not compute log metrics: %r", exc)
                return
            pl_module.log_dict(metrics, on_step=True, on_epoch=False, prog_bar=False, logger=True, sync_dist=False)

    def _act(self, trainer: pl.Trainer, tracker: Tracker) -> None:
        """The carbon policy's word at this batch end: past the budget, a checkpoint then ``should_stop``; a
        dirty grid, a checkpoint then a wait (docs/acting.md)."""
        if tracker.should_stop and not trainer.should_stop:
            self._checkpoint(trainer, "budget")
            trainer.should_stop = True
        elif tracker.pause_due():
            tracker.pause_if_dirty(before_wait=lambda: self._checkpoint(trainer, "pause"))

    def _checkpoint(self, trainer: pl.Trainer, why: str) -> None:
        """``trainer.save_checkpoint`` into the checkpoint callback's folder (else ``<root>/checkpoints``); the
        tracker's state goes with it (``state_dict``), so ``fit(ckpt_path=...)`` continues the run."""
        import os

        folder = getattr(trainer.checkpoint_callback, "dirpath", None) or os.path.join(
            trainer.default_root_dir, "checkpoints"
        )
        path = os.path.join(folder, f"wattwatch-{why}-step={trainer.global_step}.ckpt")
        try:
            trainer.save_checkpoint(path)
            self.checkpoints.append(path)
        except Exception as exc:  # never into the user's training: stop or pause without it
            log.warning("wattwatch: could not save a checkpoint before the %s (%r)", why, exc)

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._phase("eval")

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._phase("train")

    def on_sanity_check_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._phase("eval")

    def on_sanity_check_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._phase("train")

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        self._phase("checkpoint")


def _estimated_steps(trainer: pl.Trainer) -> int | None:
    """Lightning's ``estimated_stepping_batches`` when it is a finite count (``None`` otherwise, or when it
    cannot be computed yet)."""
    try:
        steps = trainer.estimated_stepping_batches
    except Exception:  # noqa: BLE001 - an infinite or unsized loader: no length
        return None
    if isinstance(steps, int | float) and steps == steps and 0 < steps < float("inf"):
        return int(steps)
    return None


def _batch_size(batch: object) -> int | None:
    """Rows in the batch's first tensor (``None`` if it has none). A batch is whatever the user's data loader
    yields: a tensor (anything with a ``shape``), or a dict, list or tuple holding one."""
    if hasattr(batch, "shape") and len(batch.shape) > 0:
        return int(batch.shape[0])
    if isinstance(batch, dict):
        batch = list(batch.values())
    if isinstance(batch, list | tuple):
        for item in batch:
            size = _batch_size(item)
            if size:
                return size
    return None

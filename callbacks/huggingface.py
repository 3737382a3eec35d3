"""Hugging Face ``Trainer`` integration: ``Trainer(..., callbacks=[WattwatchCallback(country_iso_code="FRA")])``.

What one callback does
  - **Run**: a :class:`~wattwatch.Tracker` starts at ``on_train_begin`` and stops at ``on_train_end``
    (``completed``). When ``train()`` raises, the run stops with ``failed`` (``interrupted`` for
    ``KeyboardInterrupt``/``SystemExit``) before the exception leaves ``train()``: the callback wraps the
    trainer's ``train`` method when it is given to the ``Trainer`` constructor (it finds the trainer at
    ``on_init_end``). A callback added later with ``trainer.add_callback`` cannot see an exception; its run is
    closed as ``failed`` at the next ``on_train_begin`` or at interpreter exit.
  - **Phases** (kWh kept apart in ``phase_energy_kwh``): ``train``; ``eval`` from the step that triggers an
    evaluation (or the first prediction step) to ``on_evaluate``/``on_predict``; ``checkpoint`` from the step that
    triggers a save to ``on_save`` (the Trainer calls ``on_save`` after writing the checkpoint, so the write itself is
    inside the phase).
  - **Logs**: at every ``Trainer.log`` call the logs gain ``wattwatch/*`` keys (kWh, kg CO2eq, mean W, J per
    step / sample / token). The callback puts a small injector at the *front* of the trainer's callback list, so
    the keys are in ``state.log_history`` and reach every ``report_to`` integration (TensorBoard, W&B, MLflow...),
    which otherwise run before user callbacks.
  - **Checkpoints**: each checkpoint folder gets ``wattwatch_state.json`` (the tracker's
    :meth:`~wattwatch.Tracker.state_dict`); ``train(resume_from_checkpoint=...)`` loads it so the run keeps its
    ``run_id`` across preemptions. Each process is a *segment* with its own row in ``emissions.csv``
    (``resumed_segments`` numbers it) holding its own energy -- the crashed one's up to its crash, steps after
    the checkpoint included -- so ``wattwatch report`` adds them up to everything spent. The logs and the model
    card count the checkpointed work that produced the model: the earlier segments' totals as saved in the
    checkpoint, plus this segment's.
  - **Acting on carbon** (docs/acting.md): with ``carbon_budget_kg=`` / ``energy_budget_kwh=``, at the first
    step end past the budget the Trainer saves a checkpoint and stops (``on_budget="stop"``, the default; the
    row's status is ``budget-stopped``) or ``train()`` raises ``wattwatch.BudgetExceeded`` (``"raise"``); with
    ``pause_above_g_per_kwh=`` and ``deadline=``, a step end on a dirty grid saves a checkpoint and waits (phase
    ``paused``) while the deadline allows. ``max_steps`` gives the projection and its early warning.
  - **Quality**: the metrics of the last evaluation (``eval_loss``, ``eval_accuracy``...; timings dropped) go in
    the row's ``eval_metrics`` column, for the HTML report's quality-against-carbon chart.
  - **Outputs**: ``emissions.csv`` in ``args.output_dir`` (unless ``output_dir=`` is given), and the model card
    ``README.md`` there gets ``co2_eq_emissions`` (grams; operational, with embodied beside it). ``trainer.create_model_card()`` / ``push_to_hub()``
    rewrite the card; the callback wraps ``create_model_card`` to re-apply the block. After writing a card by other
    means call :meth:`WattwatchCallback.update_model_card`.

Distributed runs: every process runs its own tracker and **every process calls** ``tracker.stop()`` (it becomes a
collective when ``torch.distributed`` is initialised); only world process zero writes the model card. Each rank
saves its own ``wattwatch_state*.json`` in checkpoints.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import logging
import os
from pathlib import Path
from typing import Any

from transformers import Trainer, TrainerCallback
from transformers.trainer_callback import TrainerControl, TrainerState
from transformers.training_args import TrainingArguments
from wattwatch.callbacks.torch import log_metrics

from wattwatch.result import EmissionsData
from wattwatch.run.tracker import Tracker

__all__ = ["STATE_FILE", "WattwatchCallback"]

log = logging.getLogger("wattwatch")

STATE_FILE = "wattwatch_state.json"
"""File in each checkpoint folder with the tracker's state (rank 0; other ranks add ``_rank<N>``)."""

_MARK = "_wattwatch_callback"


def _find_trainer() -> Trainer | None:
    """The ``Trainer`` whose callback handler is calling us (a short walk up the stack)."""
    frame = inspect.currentframe()
    try:
        depth = 0
        while frame is not None and depth < 12:
            candidate = frame.f_locals.get("self")
            if isinstance(candidate, Trainer):
                return candidate
            frame = frame.f_back
            depth += 1
        return None
    finally:
        del frame


class _LogInjector(TrainerCallback):
    """Sits first in the callback list so the ``wattwatch/*`` keys are in ``logs`` before any integration."""

    def __init__(self, owner: WattwatchCallback) -> None:
        self.owner = owner

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        self.owner._inject(state, logs)


class _CarbonHooks:
    """The carbon policy's part of the callback (docs/acting.md): at a step end past the budget, checkpoint and
    stop; on a dirty grid, checkpoint, then wait in ``on_save`` once the checkpoint is written."""

    tracker: Tracker | None
    _pause_pending = False

    def _act(self, control: TrainerControl) -> None:
        tracker = self.tracker
        if tracker is None or tracker.policy is None or not tracker.running:
            return
        if tracker.should_stop:
            control.should_save = True
            control.should_training_stop = True
        elif tracker.pause_due():
            control.should_save = True
            self._pause_pending = True

    def on_step_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if self._pause_pending:  # the Trainer did not save (a subclass that ignores should_save): wait anyway
            self._pause()

    def _pause(self) -> None:
        self._pause_pending = False
        if self.tracker is not None and self.tracker.running:
            self.tracker.pause_if_dirty()


class WattwatchCallback(_CarbonHooks, TrainerCallback):
    """Track a ``Trainer`` run's energy and CO2. Keyword arguments are :class:`~wattwatch.Tracker`'s (validated
    here, so a typo fails before training); ``output_dir`` defaults to the Trainer's ``args.output_dir``.

    ``training_type`` ("fine-tuning" or "pre-training") goes into the model card; ``None`` guesses from the
    model (weights loaded from a name or path -> fine-tuning). ``model_card=False`` leaves ``README.md`` alone.
    """

    def __init__(self, *, training_type: str | None = None, model_card: bool = True, **tracker_kwargs: Any) -> None:
        from wattwatch.sinks.modelcard import TRAINING_TYPES

        if training_type is not None and training_type not in TRAINING_TYPES:
            raise ValueError(f"training_type must be one of {', '.join(TRAINING_TYPES)}; got {training_type!r}")
        Tracker(**tracker_kwargs)  # validate the options now, before any training
        self.tracker_kwargs = dict(tracker_kwargs)
        self.training_type = training_type
        self.model_card = model_card
        self.tracker: Tracker | None = None
        self.final_emissions_data: EmissionsData | None = None
        """What ``Tracker.stop()`` returned: this process segment's totals (its row in ``emissions.csv``)."""
        self._card_data: EmissionsData | None = None
        self._trainer: Trainer | None = None
        self._injector = _LogInjector(self)
        self._resume_from: str | None = None
        self._card_dir: Path | None = None
        self._resolved_training_type = training_type or "fine-tuning"

    # -- attaching to the trainer ----------------------------------------------------------------------------
    def attach(self, trainer: Trainer) -> None:
        """Hook ``trainer`` (done automatically when the callback is passed to the ``Trainer`` constructor):
        wrap ``train`` (failed/interrupted status, resume path) and ``create_model_card`` (keep the CO2 block),
        and put the log injector first in the callback list."""
        self._trainer = trainer
        handler = trainer.callback_handler
        if self._injector not in handler.callbacks:
            # a new list: attach() may run inside the handler's loop over the old one (inserting into it would
            # shift the loop and call this callback's hook twice)
            handler.callbacks = [self._injector, *handler.callbacks]
        if getattr(trainer, _MARK, None) is self:
            return
        setattr(trainer, _MARK, self)
        original_train = trainer.train
        original_card = trainer.create_model_card

        @functools.wraps(original_train)
        def train(*args: Any, **kwargs: Any) -> Any:
            resume = kwargs.get("resume_from_checkpoint", args[0] if args else None)
            self._resume_from = self._resolve_resume(trainer, resume)
            try:
                return original_train(*args, **kwargs)
            except BaseException as exc:
                status = "interrupted" if isinstance(exc, KeyboardInterrupt | SystemExit) else "failed"
                self._stop(status, trainer.args, trainer.state, write_card=False)
                raise
            finally:
                self._resume_from = None

        @functools.wraps(original_card)
        def create_model_card(*args: Any, **kwargs: Any) -> Any:
            result = original_card(*args, **kwargs)
            if self.final_emissions_data is not None and trainer.is_world_process_zero():
                self.update_model_card(trainer.args.output_dir or ".")
            return result

        trainer.train = train  # type: ignore[method-assign]
        trainer.create_model_card = create_model_card  # type: ignore[method-assign]

    @staticmethod
    def _resolve_resume(trainer: Trainer, resume: object) -> str | None:
        if resume is None or resume is False:
            return None
        if resume is True:
            from transformers.trainer_utils import get_last_checkpoint

            return get_last_checkpoint(trainer.args.output_dir)
        return os.fspath(resume) if isinstance(resume, str | os.PathLike) else None

    def on_init_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        trainer = _find_trainer()
        if trainer is not None:
            self.attach(trainer)

    # -- run life cycle --------------------------------------------------------------------------------------
    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if self.tracker is not None and self.tracker.running:  # the previous train() ended without on_train_end
            self._stop("failed", args, state, write_card=False)
        if self._trainer is None:
            trainer = _find_trainer()
            if trainer is not None:
                self.attach(trainer)
        kwargs_t = dict(self.tracker_kwargs)
        kwargs_t.setdefault("output_dir", args.output_dir)
        if state.max_steps and state.max_steps > 0:
            kwargs_t.setdefault("total_steps", state.max_steps)
        tracker = Tracker(**kwargs_t)
        saved = self._load_checkpoint_state(args, state)
        if saved is not None:
            try:
                tracker.load_state_dict(saved)
            except ValueError as exc:
                log.warning("wattwatch: cannot continue the checkpoint's run (%s); starting fresh totals", exc)
        if self.training_type is None:
            model = kwargs.get("model")
            name = getattr(getattr(model, "config", None), "_name_or_path", "") or ""
            self._resolved_training_type = "fine-tuning" if name else "pre-training"
        self.tracker = tracker
        self.final_emissions_data = None
        self._card_data = None
        tracker.set_phase("train")  # before start(): the run's first second is not "(unphased)"
        tracker.start()
        self._count(args, state)

    def on_train_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        self._count(args, state)
        self._stop("completed", args, state, write_card=self.model_card)

    def _stop(self, status: str, args: TrainingArguments, state: TrainerState, *, write_card: bool) -> None:
        tracker = self.tracker
        if tracker is None or not tracker.running:
            return
        try:
            # a resumed run's row holds this segment's energy; the card, the model's: with the earlier segments
            lineage = tracker.current(refresh=True)
            data = tracker.stop(status)  # every process: a collective in distributed runs
        except Exception as exc:  # never into the user's training
            log.warning("wattwatch: could not stop the tracker: %r", exc)
            return
        self.final_emissions_data = data
        self._card_data = data
        if data is not None and data.resumed_segments > 0 and lineage.emissions > data.emissions:
            self._card_data = dataclasses.replace(lineage, status=data.status)
        if data is not None and write_card and state.is_world_process_zero:
            try:
                self.update_model_card(args.output_dir or ".")
            except Exception as exc:
                log.warning("wattwatch: could not write the model card in %s: %r", args.output_dir, exc)

    def update_model_card(self, path: str | os.PathLike[str]) -> Path | None:
        """Write this run's ``co2_eq_emissions`` into the card at ``path`` (``README.md`` or its folder). Call it
        after regenerating a card yourself; ``Trainer.create_model_card`` is handled already."""
        data = self._card_data or self.final_emissions_data
        if data is None:
            return None
        from wattwatch.sinks.modelcard import update_model_card

        return update_model_card(path, data, training_type=self._resolved_training_type)

    # -- counts and phases -----------------------------------------------------------------------------------
    def _count(self, args: TrainingArguments, state: TrainerState) -> None:
        if self.tracker is None:
            return
        per_step = args.train_batch_size * args.gradient_accumulation_steps * max(1, args.world_size)
        tokens = int(state.num_input_tokens_seen or 0)
        self.tracker.set_counts(
            steps=state.global_step,
            samples=state.global_step * per_step,
            tokens=tokens if tokens > 0 else None,
        )

    def _phase(self, name: str) -> None:
        if self.tracker is not None and self.tracker.running and self.tracker.current_phase != name:
            self.tracker.set_phase(name)

    def _after_flags(self, control: TrainerControl) -> None:
        if control.should_evaluate:
            self._phase("eval")
        elif control.should_save:
            self._phase("checkpoint")

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        self._count(args, state)  # with on_budget="raise", BudgetExceeded leaves train() here
        self._act(control)
        self._after_flags(control)  # DefaultFlowCallback (first in the list) has set the flags

    def on_epoch_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        self._after_flags(control)

    def on_prediction_step(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        self._phase("eval")

    def on_evaluate(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        metrics: dict[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        tracker = self.tracker
        if tracker is not None and isinstance(metrics, dict):
            # the last evaluation's metrics go in the row's eval_metrics column (quality against carbon)
            tracker.set_eval_metrics(metrics)
        self._phase("checkpoint" if control.should_save else "train")

    def on_predict(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        metrics: dict[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        self._phase("train")

    def on_save(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        tracker = self.tracker
        if tracker is not None and tracker.running:
            folder = Path(args.output_dir or ".") / f"checkpoint-{state.global_step}"
            if folder.is_dir():
                self._write_state(folder, args)
        self._phase("train")
        if self._pause_pending:  # the checkpoint is written: wait for a cleaner grid now
            self._pause()

    # -- checkpoint state ------------------------------------------------------------------------------------
    @staticmethod
    def _state_name(args: TrainingArguments) -> str:
        rank = int(getattr(args, "process_index", 0) or 0)
        return STATE_FILE if rank == 0 else STATE_FILE.replace(".json", f"_rank{rank}.json")

    def _write_state(self, folder: Path, args: TrainingArguments) -> None:
        assert self.tracker is not None
        path = folder / self._state_name(args)
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            tmp.write_text(json.dumps(self.tracker.state_dict()), encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("wattwatch: could not save the tracker state in %s: %r", folder, exc)

    def _load_checkpoint_state(self, args: TrainingArguments, state: TrainerState) -> dict[str, Any] | None:
        folders: list[Path] = []
        if self._resume_from:
            folders.append(Path(self._resume_from))
        if state.global_step > 0:  # resumed: the Trainer names checkpoints checkpoint-<global_step>
            folders.append(Path(args.output_dir or ".") / f"checkpoint-{state.global_step}")
        for folder in folders:
            path = folder / self._state_name(args)
            if path.is_file():
                try:
                    saved = json.loads(path.read_text(encoding="utf-8"))
                    if not isinstance(saved, dict):
                        raise ValueError("not a JSON object")
                except (OSError, ValueError) as exc:
                    log.warning("wattwatch: ignoring unreadable %s (%r); starting fresh totals", path, exc)
                    return None
                return dict(saved)
        if state.global_step > 0:
            log.warning(
                "wattwatch: resumed at step %d but found no %s; totals start from zero", state.global_step, STATE_FILE
            )
        return None

    # -- logs ------------------------------------------------------------------------------------------------
    def _inject(self, state: TrainerState, logs: dict[str, float] | None) -> None:
        tracker = self.tracker
        if tracker is None or not tracker.running or not isinstance(logs, dict):
            return
        try:
            topology = tracker.topology
            if topology is not None and topology.is_distributed:
                # The Trainer calls on_log on every rank at the same step, so the run's totals can be exchanged
                # here (flush() is a bounded collective): the logs show the run, not this rank.
                data = tracker.flush() or tracker.current(refresh=True)
            else:
                data = tracker.current(refresh=True)
            metrics = log_metrics(data)
        except Exception as exc:  # never into the user's training
            log.warning("wattwatch: could not compute log metrics: %r", exc)
            return
        logs.update(metrics)
        history = state.log_history
        if history and history[-1].get("step") == state.global_step and not any(k in history[-1] for k in metrics):
            history[-1].update(metrics)

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        if self._trainer is None or self._injector not in self._trainer.callback_handler.callbacks:
            self._inject(state, logs)  # no injector in front: at least log_history and later callbacks see them

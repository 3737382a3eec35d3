"""Plain PyTorch acting on carbon on the fake GPUs: the step hook of ``track_optimizer`` checkpoints, then raises
``wattwatch.BudgetExceeded`` from ``optimizer.step()`` at the first step past the budget."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import fakenvml
import pytest
from budgethelp import carbon_overshoot
from fakenvml import FakeNvml

torch = pytest.importorskip("torch")

from wattwatch.callbacks.torch import track_optimizer  # noqa: E402

from wattwatch import BudgetExceeded, Tracker  # noqa: E402

INTERVAL_S = 1.0  # the default with energy counters: the bound is 2 % of the budget plus one of these


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """A tiny model on one thread: no OpenMP spinning against the rest of a busy machine (restored after)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def hot_gpus(fake_nvml: Callable[..., FakeNvml]) -> FakeNvml:
    return fake_nvml(fakenvml.make_gpus(4, (fakenvml.Constant(600.0),)))


def test_the_step_hook_checkpoints_then_raises_within_the_bound(hot_gpus: FakeNvml, tmp_path: Path) -> None:
    budget = 0.0008
    model = torch.nn.Linear(8, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    saved: list[int] = []
    tracker = Tracker(
        output_dir=tmp_path, nvml_library=hot_gpus.library_path, carbon_intensity_g_per_kwh=1000.0,
        measure_power_secs=INTERVAL_S, save_timeseries=False, handle_signals=False, carbon_budget_kg=budget,
    )  # fmt: skip
    hook = track_optimizer(opt, tracker, batch_size=16, checkpoint=lambda: saved.append(hook.steps))
    steps = 0
    with pytest.raises(BudgetExceeded) as info, tracker:
        for steps in range(1, 10_000_000):  # noqa: B007 - the count is read after the loop
            loss = model(torch.randn(16, 8)).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    data = tracker.final_emissions_data
    assert data is not None and data.status == "budget-stopped"
    assert saved == [steps] and info.value.steps == steps == data.steps
    over, bound = carbon_overshoot(data, budget, INTERVAL_S)
    assert 0 <= over <= bound, (over, bound)

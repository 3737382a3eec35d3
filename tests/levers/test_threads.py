"""--threads auto: the faster of torch's thread count and one is kept (probed on the model's own generate)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

torch = pytest.importorskip("torch")

from wattwatch.levers.threads import choose_threads  # noqa: E402


class _Model:
    """Generates zeros and records the thread count of each call (the timing comes from the test's clock)."""

    def __init__(self) -> None:
        self.threads: list[int] = []

    def generate(self, input_ids: torch.Tensor, **kwargs: object) -> torch.Tensor:
        self.threads.append(torch.get_num_threads())
        new = torch.zeros((input_ids.shape[0], int(kwargs["max_new_tokens"])), dtype=input_ids.dtype)  # type: ignore[call-overload]
        return torch.cat([input_ids, new], dim=1)

    def __call__(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("not used")


class _Clock:
    """Each timed call lasts ``durations[i % 2]`` s: torch's count first, then one thread."""

    def __init__(self, durations: tuple[float, float]) -> None:
        self.durations, self.t, self.calls = durations, 0.0, 0

    def __call__(self) -> float:
        if self.calls % 2 == 1:  # the end of a timed call
            self.t += self.durations[(self.calls // 2) % 2]
        self.calls += 1
        return self.t


@pytest.fixture
def two_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize(("durations", "kept"), [((1.0, 0.1), 1), ((0.1, 1.0), 2), ((0.5, 0.5), 2)])
def test_the_faster_count_is_kept(two_threads: None, durations: tuple[float, float], kept: int) -> None:
    model = _Model()
    choice = choose_threads(model, [[1, 2, 3], [4, 5]], pad_id=0, eos_ids=(9,), rounds=2, clock=_Clock(durations))
    assert model.threads == [2, 2, 1, 2, 1]  # a first call, then alternated
    assert choice.threads == kept and torch.get_num_threads() == kept
    assert choice.timings == pytest.approx({2: durations[0], 1: durations[1]})
    assert choice.note.startswith(f"{kept} torch thread") and "by a probe (auto)" in choice.note

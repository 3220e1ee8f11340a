"""`humc run --engine ray`: the batches of a run decoded by Ray actors, each holding the task's
Session and its own copy of the model, on a local Ray cluster or an existing one (`--address`).

The driver keeps the files, resuming and progress (runtime/run.py); it hands out the same
batches a local run decodes, a bounded number in flight, and writes their lines in input order,
so a greedy run writes the file a local run writes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from ..ray_cluster import ordered_map, ray_cluster
from ..ir_types import TaskIR


def ray_outcomes(task: TaskIR, settings, spec_dir: Path, model: str | None, batches: Iterator[list[dict]],
                 workers: int, address: str | None, describe) -> Iterator[tuple[list[dict], list]]:
    """(batch, its outcomes) in order. `describe(model_name, decoder_name)` is called once the
    first actor has loaded the model."""
    with ray_cluster(workers, address) as ray:
        actor_class = ray.remote(num_cpus=1)(_Runner)
        actors = [actor_class.remote(task, settings, str(spec_dir), model) for _ in range(workers)]
        describe(*ray.get(getattr(actors[0], "describe").remote()))
        yield from ordered_map(ray, actors, "decode", batches)


class _Runner:
    """A Ray actor: the task's Session on its own copy of the model."""

    def __init__(self, task: TaskIR, settings, spec_dir: str, model: str | None):
        import os

        os.environ.setdefault("TORCHDYNAMO_DISABLE", "1")
        from ..session import Session
        from .models import load

        self.session = Session(task, settings, Path(spec_dir))
        self.loaded = load(model)
        self.session.start(self.loaded)

    def describe(self) -> tuple[str, str]:
        return self.loaded.name, self.session._decoder().name

    def decode(self, rows: list[dict]) -> list:
        outcomes = self.session.decode(rows)
        for o in outcomes:  # the messages travel; exception objects need not unpickle on the driver
            o.failure = None
        return outcomes

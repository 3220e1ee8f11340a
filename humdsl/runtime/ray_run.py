"""`humc run --engine ray`: the batches of a run decoded by Ray actors, on a local Ray cluster or
an existing one (`--address`). Each actor holds the task's Session and either its own copy of
the model or a client of one of the run's servers (`--base-url URL1,URL2`: the actors take
turns), whose answers it checks against their grammars as the openai engine does.

The driver keeps the files, resuming and progress (runtime/run.py); it hands out the same
batches a local run decodes, a bounded number in flight, and writes their lines in input order,
so a greedy run writes the file a local run writes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from ..ray_cluster import actor_class, ordered_map, ray_cluster
from ..ir_types import TaskIR


def ray_outcomes(task: TaskIR, settings, spec_dir: Path, model: str | None, batches: Iterator[list[dict]],
                 workers: int, address: str | None, describe, servers: list[tuple[str, str]] | None = None,
                 in_flight: int = 1) -> Iterator[tuple[list[dict], list]]:
    """(batch, its outcomes) in order. `describe(model_name, decoder_name)` is called once the
    first actor is ready. `servers`: (base URL, served model name) pairs, probed already; actor i
    is a client of server i mod their number, with `in_flight` requests at once."""
    with ray_cluster(workers, address) as ray:
        actors_of = actor_class(ray, _Runner)
        actors = [actors_of.remote(task, settings, str(spec_dir), model,
                                     servers[n % len(servers)] if servers else None, in_flight)
                  for n in range(workers)]
        describe(*ray.get(getattr(actors[0], "describe").remote()))
        yield from ordered_map(ray, actors, "decode", batches)


class _Runner:
    """A Ray actor: the task's Session on its own copy of the model, or on a server."""

    def __init__(self, task: TaskIR, settings, spec_dir: str, model: str | None,
                 server: tuple[str, str] | None = None, in_flight: int = 1):
        import os

        os.environ.setdefault("TORCHDYNAMO_DISABLE", "1")
        from ..session import Session

        self.session = Session(task, settings, Path(spec_dir))
        if server is not None:
            from .openai_engine import OpenAIDecoder, api_key_from

            url, served = server
            decoder = OpenAIDecoder(url, served, api_key_from(settings.api_key_env), in_flight, probe=False)
            self.session.use(decoder)
            self.model_name = decoder.name
        else:
            from .models import load

            loaded = load(model)
            self.session.start(loaded)
            self.model_name = loaded.name

    def describe(self) -> tuple[str, str]:
        return self.model_name, self.session._decoder().name

    def decode(self, rows: list[dict]) -> list:
        outcomes = self.session.decode(rows)
        for o in outcomes:  # the messages travel; exception objects need not unpickle on the driver
            o.failure = None
        return outcomes

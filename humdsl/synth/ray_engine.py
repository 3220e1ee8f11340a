"""`humc synth --engine ray`: the chunks of examples synthesised by Ray actors, on a local Ray
cluster or an existing one (`--address`), for corpora larger than one machine makes in time.

Each actor holds the compiled task (a Synthesiser, as a local worker process does) and turns a
chunk of numbered examples into its corpus text; the driver reads the dataset, keeps a bounded
number of chunks in flight and writes the results in source order, so the corpus is byte for
byte the one `--jobs` makes locally. (Ray actors rather than a Ray Data pipeline: a Data
pipeline would first read the whole dataset into the object store, or need a datasource per
adapter; the actors keep the adapters and the memory bound of the local path.)
"""
from __future__ import annotations

from typing import Iterator

from ..ray_cluster import actor_class, ordered_map, ray_cluster
from ..ir_types import TaskIR


def ray_results(task_ir: TaskIR, policy, seed: int, exact: bool, data_path: str, chunks: Iterator[list],
                workers: int, address: str | None) -> Iterator[tuple]:
    """Per-chunk results (text, stats, problems) in source order, made by `workers` actors."""
    with ray_cluster(workers, address) as ray:
        actors_of = actor_class(ray, _Synth)
        actors = [actors_of.remote(task_ir, policy, seed, exact, data_path) for _ in range(workers)]
        for _, result in ordered_map(ray, actors, "run", chunks):
            yield result


class _Synth:
    """A Ray actor: one compiled task, many chunks."""

    def __init__(self, task_ir: TaskIR, policy, seed: int, exact: bool, data_path: str):
        from .instances import Synthesiser

        self.synth = Synthesiser(task_ir, policy, seed, exact, data_path)

    def run(self, chunk: list) -> tuple:
        from .instances import chunk_result

        return chunk_result(self.synth, chunk)

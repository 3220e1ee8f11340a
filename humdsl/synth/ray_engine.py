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

import logging
from typing import Iterator

from ..errors import HumError


class RayError(HumError):
    """Ray is not installed, or the cluster cannot be reached."""


def ray_results(task_ir: dict, policy, seed: int, exact: bool, data_path: str, chunks: Iterator[list],
                workers: int, address: str | None) -> Iterator[tuple]:
    """Per-chunk results (text, stats, problems) in source order, made by `workers` actors."""
    try:
        import ray
    except ImportError:
        raise RayError("--engine ray needs Ray: pip install 'humdsl[ray]'") from None
    started_here = False
    if not ray.is_initialized():
        try:
            if address:
                ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
            else:
                ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise RayError(f"cannot start or reach the Ray cluster{f' at {address}' if address else ''}: {e}") from None
        started_here = True
    try:
        actor_class = ray.remote(num_cpus=1)(_Synth)
        actors = [actor_class.remote(task_ir, policy, seed, exact, data_path) for _ in range(workers)]
        pending: list = []
        turn = 0
        for chunk in chunks:
            pending.append(getattr(actors[turn % workers], "run").remote(chunk))  # Ray's handle: typed loosely
            turn += 1
            if len(pending) >= 2 * workers:  # bounded: the dataset is never read ahead in full
                yield ray.get(pending.pop(0))
        for ref in pending:
            yield ray.get(ref)
    finally:
        if started_here:
            ray.shutdown()


class _Synth:
    """A Ray actor: one compiled task, many chunks."""

    def __init__(self, task_ir: dict, policy, seed: int, exact: bool, data_path: str):
        from .instances import Synthesiser

        self.synth = Synthesiser(task_ir, policy, seed, exact, data_path)

    def run(self, chunk: list) -> tuple:
        from .instances import chunk_result

        return chunk_result(self.synth, chunk)

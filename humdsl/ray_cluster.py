"""The Ray cluster a command runs on: an existing one (`--address`), or a local one started for
the command and shut down after it. Used by `humc synth --engine ray` and `humc run --engine ray`."""
from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Any, Iterator

from .errors import HumError


class RayError(HumError):
    """Ray is not installed, or the cluster cannot be started or reached."""


@contextmanager
def ray_cluster(workers: int, address: str | None) -> Iterator[Any]:
    """The `ray` module, connected; a cluster started here is shut down on leaving."""
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
        yield ray
    finally:
        if started_here:
            ray.shutdown()


# An actor whose process or node dies is started again (from its constructor's arguments) and its
# calls in flight are sent again: each call is a pure function of its item (a chunk of examples,
# a batch of rows), so a retried call gives the same result and the output stays byte-identical.
RESTARTS = 3


def actor_class(ray: Any, cls: type) -> Any:
    """`cls` as a Ray actor class of one CPU that survives the loss of its process or node."""
    return ray.remote(num_cpus=1, max_restarts=RESTARTS, max_task_retries=RESTARTS)(cls)


def ordered_map(ray: Any, actors: list, method: str, items: Iterator) -> Iterator[tuple[Any, Any]]:
    """(item, actors' result) in the items' order, the actors taking turns, at most two items per
    actor in flight: the input is never read ahead in full."""
    pending: list = []
    for n, item in enumerate(items):
        pending.append((item, getattr(actors[n % len(actors)], method).remote(item)))  # Ray's handles: loosely typed
        if len(pending) >= 2 * len(actors):
            done, ref = pending.pop(0)
            yield done, _result(ray, ref)
    for done, ref in pending:
        yield done, _result(ray, ref)


def _result(ray: Any, ref: Any) -> Any:
    try:
        return ray.get(ref)
    except ray.exceptions.RayActorError as e:  # restarted and retried RESTARTS times already
        raise RayError(f"a Ray actor was lost {RESTARTS + 1} times and the run stopped (what was written is "
                       f"kept): {str(e).splitlines()[0][:200]}") from None

"""Tasks on Dask, or here: the one scheduler wrapper of the flow model's chains and the journeys.

A scheduler is named as the command line takes it (``--scheduler``): ``None`` or ``"local"``
for a local Dask cluster of processes for the runner's life, ``"tcp://HOST:PORT"`` (any
``scheme://address`` Dask knows) for a running Dask scheduler, ``"sync"`` to run the tasks here,
one after the other. Nothing here imports Dask until a runner starts one.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CONNECT_TIMEOUT",
    "SCHEDULER_HELP",
    "SchedulerError",
    "TaskRunner",
    "check_scheduler",
    "run_tasks",
]

# Seconds to wait for a Dask scheduler to answer before the run is refused.
CONNECT_TIMEOUT = 10.0
# What a scheduler may be, in the words of the error and of ``--help``.
SCHEDULER_HELP = "tcp://HOST:PORT, 'local' for a cluster of processes here, or 'sync' to run here"
_ADDRESS = re.compile(r"[a-z]+://\S+")

Tick = Callable[[int], None]


class SchedulerError(ValueError):
    """A scheduler that is not one, or that cannot be reached (with the fix)."""


def check_scheduler(value: str | None) -> str | None:
    """``value`` if it names a scheduler (None, ``local``, ``sync``, ``scheme://address``).

    Raises
    ------
    SchedulerError
        Naming what a scheduler may be.

    Examples
    --------
    >>> check_scheduler("tcp://10.0.0.5:8786")
    'tcp://10.0.0.5:8786'
    >>> check_scheduler("localhost:8786")
    Traceback (most recent call last):
    ...
    nkescape.tasks.SchedulerError: 'localhost:8786' is not a scheduler: give tcp://HOST:PORT, \
'local' for a cluster of processes here, or 'sync' to run here
    """
    if value is None or value in ("local", "sync") or _ADDRESS.fullmatch(value):
        return value
    raise SchedulerError(f"{value!r} is not a scheduler: give {SCHEDULER_HELP}")


@dataclass(frozen=True)
class _DaskTick:
    """A task's progress report on Dask: an event on the run's topic, which the client relays."""

    topic: str
    key: int

    def __call__(self, done: int) -> None:
        from distributed import get_worker

        get_worker().log_event(self.topic, [self.key, done])


class TaskRunner:
    """Runs tasks here (``"sync"``) or on Dask, and relays their progress to ``on_tick``.

    None or ``"local"`` starts a local cluster of processes (``workers`` of them, up to the
    cores) for the runner's life; ``"tcp://HOST:PORT"`` connects to a running scheduler (a
    :class:`SchedulerError` if it does not answer within ``CONNECT_TIMEOUT`` seconds). Tasks
    report with the callable ``tick(key)`` gives them; ``on_tick(key, done)`` runs here (on
    Dask, on the client's thread).
    """

    def __init__(
        self,
        scheduler: str | None,
        *,
        workers: int = 1,
        on_tick: Callable[[int, int], None] | None = None,
    ) -> None:
        self.scheduler = check_scheduler(scheduler)
        self.workers = max(1, min(workers, os.cpu_count() or 1))
        self.on_tick = on_tick
        self.topic = f"nkescape-tasks-{uuid.uuid4().hex}"
        self._stack = contextlib.ExitStack()
        self._client: Any = None

    def __enter__(self) -> TaskRunner:
        if self.scheduler == "sync":
            return self
        from dask.distributed import Client, LocalCluster

        with contextlib.ExitStack() as stack:
            if self.scheduler in (None, "local"):
                cluster = stack.enter_context(
                    LocalCluster(  # type: ignore[no-untyped-call]
                        n_workers=self.workers,
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=":0",
                    )
                )
                self._client = stack.enter_context(Client(cluster))  # type: ignore[no-untyped-call]
            else:
                try:
                    client = Client(self.scheduler, timeout=CONNECT_TIMEOUT)  # type: ignore[no-untyped-call]
                except (OSError, ValueError, TypeError) as exc:
                    # OSError (and its TimeoutError): nothing answered; ValueError, TypeError:
                    # an address Dask cannot parse or a scheme it does not know.
                    raise SchedulerError(
                        f"cannot reach the Dask scheduler at {self.scheduler} "
                        f"({type(exc).__name__}: {exc}); start one there with `dask scheduler` "
                        "and its workers with `dask worker ADDRESS`, or give another address"
                    ) from exc
                self._client = stack.enter_context(client)
            if self.on_tick is not None:
                on_tick = self.on_tick
                self._client.subscribe_topic(
                    self.topic, lambda event: on_tick(int(event[1][0]), int(event[1][1]))
                )
            self._stack = stack.pop_all()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    @property
    def slots(self) -> int:
        """Tasks that can run at once: the cluster's threads (1 here)."""
        if self._client is None:
            return 1
        threads = self._client.nthreads()
        return max(1, sum(int(n) for n in threads.values()))

    def tick(self, key: int) -> Tick | None:
        if self.on_tick is None:
            return None
        if self._client is None:
            on_tick = self.on_tick
            return lambda done: on_tick(key, done)
        return _DaskTick(self.topic, key)

    def map(
        self,
        fn: Callable[..., Any],
        args: list[tuple[Any, ...]],
        kwargs: dict[str, Any] | None = None,
    ) -> list[Any]:
        """``fn(*a, **kwargs)`` for each ``a``, results in order."""
        kw = kwargs or {}
        if self._client is None or len(args) == 0:
            return [fn(*a, **kw) for a in args]
        futures = [self._client.submit(fn, *a, **kw, pure=False) for a in args]
        return list(self._client.gather(futures))

    def imap(
        self, fn: Callable[..., Any], args: Iterable[tuple[Any, ...]], *, in_flight: int
    ) -> Iterator[Any]:
        """``fn(*a)`` for each ``a`` of a stream, results in order, at most ``in_flight`` tasks
        submitted and not yet taken, so that memory stays bounded for any number of tasks.

        The arguments are read as tasks are submitted; closing the iterator early (an error,
        ``break``) cancels the tasks not yet done.
        """
        if self._client is None:
            for a in args:
                yield fn(*a)
            return
        pending: list[Any] = []
        try:
            for a in args:
                pending.append(self._client.submit(fn, *a, pure=False))
                if len(pending) >= max(1, in_flight):
                    yield pending.pop(0).result()
            while pending:
                yield pending.pop(0).result()
        finally:
            if pending:
                self._client.cancel(pending)


def run_tasks(
    fn: Callable[..., Any], args: list[tuple[Any, ...]], *, scheduler: str | None
) -> list[Any]:
    """Run ``fn(*a)`` for each ``a`` on Dask (or here with ``"sync"``), results in order."""
    if len(args) == 0:
        return []
    with TaskRunner(scheduler, workers=len(args)) as runner:
        return runner.map(fn, args)

"""Long computations off the request thread: a bounded pool of workers, cancellable jobs.

A job is a function of a :class:`Progress` returning a JSON-ready dict. It runs on one of
``workers`` threads (the rest wait, queued, up to ``max_queued``), reports its progress through
``Progress.advance``, and stops at the next report once cancelled: ``advance`` raises
:class:`JobCancelledError`, which the simulator's progress callback lets through to stop the
run (after the chunks under way). Finished jobs are kept for ``keep_seconds`` and at most
``keep`` of them, so that the page can fetch a result, and memory stays bounded however long
the server runs.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from nkescape.web.models import JobKind, JobState

__all__ = ["Job", "JobCancelledError", "JobManager", "Progress", "QueueFullError"]

# A job id: 64 random bits as hex, so that ids cannot be guessed from one another.
_ID_BYTES = 8
# States a job never leaves.
_TERMINAL: frozenset[str] = frozenset({"done", "failed", "cancelled"})


class JobCancelledError(Exception):
    """Raised inside a job by ``Progress.advance`` once the job is cancelled."""


class QueueFullError(RuntimeError):
    """No room for another job: ``max_queued`` jobs are already waiting."""


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclass
class Job:
    """One job's record; the manager's lock guards every change to it."""

    id: str
    kind: JobKind
    total: int
    state: JobState = "queued"
    done: int = 0
    stage: str | None = None
    error: str | None = None
    result: dict[str, Any] | None = None
    created: str = field(default_factory=_now)
    started: str | None = None
    finished: str | None = None
    finished_at: float | None = None  # time.monotonic(), for retention
    cancel: threading.Event = field(default_factory=threading.Event)

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "state": self.state,
            "progress": {"done": self.done, "total": self.total, "stage": self.stage},
            "error": self.error,
            "result": self.result,
            "created": self.created,
            "started": self.started,
            "finished": self.finished,
        }


class Progress:
    """What a running job sees: ``advance`` to count work done, ``stage`` to say what it does."""

    def __init__(self, job: Job, lock: threading.Lock) -> None:
        self._job = job
        self._lock = lock

    def check(self) -> None:
        """Raise :class:`JobCancelledError` if the job was cancelled."""
        if self._job.cancel.is_set():
            raise JobCancelledError

    def advance(self, n: int) -> None:
        """Count ``n`` more units of work done; raise :class:`JobCancelledError` once cancelled."""
        with self._lock:
            self._job.done = min(self._job.total, self._job.done + n)
        self.check()

    def stage(self, what: str) -> None:
        """Say what the job does now; raises :class:`JobCancelledError` once cancelled."""
        with self._lock:
            self._job.stage = what
        self.check()


JobFn = Callable[[Progress], dict[str, Any]]


class JobManager:
    """Jobs on a bounded pool of threads, kept a bounded time and number after they end.

    Parameters
    ----------
    workers
        Jobs that run at once; the others wait in order.
    max_queued
        Jobs that may wait; ``submit`` raises :class:`QueueFullError` beyond it.
    keep
        Finished jobs kept (the oldest go first).
    keep_seconds
        How long a finished job is kept.
    """

    def __init__(self, workers: int, *, max_queued: int, keep: int, keep_seconds: float) -> None:
        if workers < 1:
            raise ValueError(f"max_jobs must be at least 1 (got {workers})")
        self.workers = workers
        self.max_queued = max_queued
        self.keep = keep
        self.keep_seconds = keep_seconds
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        # Made on the first job after each close, so that an app served again (a test client
        # entered twice, uvicorn's reload) gets its workers back.
        self._pool: ThreadPoolExecutor | None = None

    def submit(self, kind: JobKind, total: int, fn: JobFn) -> dict[str, Any]:
        """Queue ``fn`` as a job of ``total`` units of work; its view (state ``queued``)."""
        with self._lock:
            self._prune()
            waiting = sum(1 for j in self._jobs.values() if j.state == "queued")
            if waiting >= self.max_queued:
                raise QueueFullError(
                    f"{waiting} jobs are already waiting (the most this server queues): wait "
                    "for one to finish, or cancel one"
                )
            job = Job(id=secrets.token_hex(_ID_BYTES), kind=kind, total=total)
            self._jobs[job.id] = job
            view = job.view()
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=self.workers, thread_name_prefix="nkescape-job"
                )
            self._pool.submit(self._run, job, fn)
        return view

    def _run(self, job: Job, fn: JobFn) -> None:
        with self._lock:
            if job.state != "queued":  # cancelled while it waited
                return
            job.state = "running"
            job.started = _now()
        progress = Progress(job, self._lock)
        try:
            progress.check()
            result = fn(progress)
        except JobCancelledError:
            self._finish(job, "cancelled")
        except ValueError as exc:  # the library's errors on bad input: one line
            self._finish(job, "failed", error=_one_line(str(exc) or type(exc).__name__))
        except Exception as exc:  # a bug: one line too, never a traceback in a response
            self._finish(
                job, "failed", error=_one_line(f"internal error: {type(exc).__name__}: {exc}")
            )
        else:
            self._finish(job, "done", result=result)

    def _finish(
        self,
        job: Job,
        state: JobState,
        *,
        error: str | None = None,
        result: dict[str, Any] | None = None,
    ) -> None:
        with self._lock:
            if job.state in _TERMINAL:  # cancelled while it ran: it stays cancelled
                return
            job.state = state
            job.error = error
            job.result = result
            if state == "done":
                job.done = job.total
            job.finished = _now()
            job.finished_at = time.monotonic()

    def get(self, job_id: str) -> dict[str, Any] | None:
        """The job's view, or None for an unknown (or no longer kept) id."""
        with self._lock:
            self._prune()
            job = self._jobs.get(job_id)
            return job.view() if job is not None else None

    def cancel(self, job_id: str) -> dict[str, Any] | None:
        """Cancel a queued or running job (a finished one keeps its state); its view, or None.

        A running job stops at its next progress report, so its thread may run on for a
        moment; it is ``cancelled`` from now on, and its result, if it comes, is dropped.
        """
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return None
            if job.state not in _TERMINAL:
                job.cancel.set()
                job.state = "cancelled"
                job.finished = _now()
                job.finished_at = time.monotonic()
            return job.view()

    def close(self) -> None:
        """Cancel every job and let the workers go (at their jobs' next progress report); a
        later ``submit`` starts new ones."""
        with self._lock:
            for job in self._jobs.values():
                if job.state not in _TERMINAL:
                    job.cancel.set()
                    job.state = "cancelled"
                    job.finished = _now()
                    job.finished_at = time.monotonic()
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def _prune(self) -> None:
        """Forget finished jobs past ``keep_seconds``, then the oldest beyond ``keep``."""
        now = time.monotonic()
        finished = [j for j in self._jobs.values() if j.finished_at is not None]
        for job in finished:
            if now - (job.finished_at or now) > self.keep_seconds:
                del self._jobs[job.id]
        finished = sorted(
            (j for j in self._jobs.values() if j.finished_at is not None),
            key=lambda j: j.finished_at or 0.0,
        )
        for job in finished[: max(0, len(finished) - self.keep)]:
            del self._jobs[job.id]


def _one_line(text: str) -> str:
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())

"""Threads released together, for the tests of what racing writers and verifiers leave behind."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
TIMEOUT = 60


def race(jobs: Sequence[Callable[[Callable[[], object]], T]]) -> list[T]:
    """Runs each job in a thread of its own; what each returned, in the order of ``jobs``.

    A job is called with ``start``, which it calls where the race begins (once it holds what it
    needs, a session say): no job goes past that point before every job has reached it. The
    first failure of a job is raised here, and a job still running after a minute fails the test.
    """
    barrier = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)
    failures: list[BaseException] = []

    def start() -> object:
        return barrier.wait(timeout=TIMEOUT)

    def run(index: int, job: Callable[[Callable[[], object]], T]) -> None:
        try:
            results[index] = job(start)
        except BaseException as error:  # handed to the test's thread
            failures.append(error)

    threads = [threading.Thread(target=run, args=item) for item in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a job is still running"
    if failures:
        raise failures[0]
    return results


def all_at_once(jobs: Sequence[Callable[[], T]]) -> list[T]:
    """``race`` for jobs that need nothing before it begins: each starts as soon as it runs."""

    def started(job: Callable[[], T]) -> Callable[[Callable[[], object]], T]:
        def run(start: Callable[[], object]) -> T:
            start()
            return job()

        return run

    return race([started(job) for job in jobs])

"""How the metrics use the cores: single-threaded fits, spread over worker processes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


def one_thread() -> Any:
    """Context: BLAS and OpenMP pools at one thread.

    sklearn's lbfgs solvers converge along a path that depends on the thread count (results move
    by ~1e-10), so fits run single-threaded give the same numbers wherever they run, in this
    process or a worker. At these sizes lbfgs gains little from its own threads, so the cores go
    to whole fits instead (logistic DCI in ``benchmarks/results/metrics.md``: 3.7x the reference).
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


def map_largest_first(fn: Callable[..., Any], tasks: Sequence[tuple], sizes: Sequence[float], *,
                      n_jobs: int) -> list[Any]:
    """``[fn(*task) for task in tasks]``, run in ``n_jobs`` processes (joblib), largest ``sizes``
    first for load balance; results come back in task order and do not depend on ``n_jobs``."""
    if n_jobs == 1 or len(tasks) < 2:
        return [fn(*task) for task in tasks]
    from joblib import Parallel, delayed

    order = sorted(range(len(tasks)), key=lambda k: -sizes[k])
    done = Parallel(n_jobs=n_jobs)(delayed(fn)(*tasks[k]) for k in order)
    results: list[Any] = [None] * len(tasks)
    for k, result in zip(order, done):
        results[k] = result
    return results

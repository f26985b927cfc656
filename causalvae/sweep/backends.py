"""Run independent tasks ``func(shared, item)`` on this machine's processes or on a Ray cluster.

Both backends return the results in the order of ``items`` (whatever order they finished in), retry a
task whose worker process died (up to ``max_retries`` times), and give every worker the same number of
BLAS/OpenMP threads (``threads``) so the numbers do not depend on the backend.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from causalvae.errors import UserError

T = TypeVar("T")
R = TypeVar("R")
BACKENDS = ("local", "ray")
OnResult = Callable[[int, Any], None]


class WorkersDiedError(UserError, RuntimeError):
    """Worker processes died more often than ``max_retries`` allows (typically: out of memory)."""


def map_tasks(func: Callable[[Any, T], R], items: Sequence[T], *, shared: Any = None, backend: str = "local",
              workers: int | None = None, address: str | None = None, max_retries: int = 3, threads: int = 1,
              gpus_per_task: float = 0.0, on_result: OnResult | None = None) -> list[R]:
    """``[func(shared, item) for item in items]``, run in parallel on ``backend``.

    Parameters
    ----------
    func : a module-level (picklable) function; ``shared`` is sent to each worker once where the
        backend allows it (Ray object store), e.g. a model and its inputs.
    backend : ``"local"`` (a process pool on this machine) or ``"ray"``.
    workers : local processes (default: CPU count); for Ray, the CPUs of a cluster started here when
        ``address`` is None and none is running (default: all).
    address : Ray cluster address (``"auto"``, ``"ray://head:10001"``, ``"10.0.0.1:6379"``).
    max_retries : times a task is re-run after its worker process died.
    threads : CPU threads per task (Ray ``num_cpus``; ``OMP_NUM_THREADS`` in the workers).
    gpus_per_task : Ray ``num_gpus`` request per task (local backend: must be 0).
    on_result : called as ``on_result(index, result)`` as each task finishes.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if max_retries < 0 or threads < 1 or gpus_per_task < 0:
        raise ValueError(f"need max_retries >= 0, threads >= 1, gpus_per_task >= 0; got {max_retries}, "
                         f"{threads}, {gpus_per_task}")
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if not items:
        return []
    if backend == "ray":
        from causalvae.sweep.ray_backend import map_ray

        return map_ray(func, items, shared=shared, address=address, workers=workers, max_retries=max_retries,
                       threads=threads, gpus_per_task=gpus_per_task, on_result=on_result)
    if address is not None or gpus_per_task:
        raise ValueError("address and gpus_per_task need backend='ray'")
    return map_local(func, items, shared=shared, workers=workers or os.cpu_count() or 1, max_retries=max_retries,
                     threads=threads, on_result=on_result)


def map_local(func: Callable[[Any, T], R], items: Sequence[T], *, shared: Any, workers: int, max_retries: int,
              threads: int, on_result: OnResult | None) -> list[R]:
    """Process-pool backend: a dead worker breaks the pool; the unfinished tasks go to a fresh one."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    results: dict[int, R] = {}
    pending = list(range(len(items)))
    crashes = 0
    while pending:
        with ProcessPoolExecutor(max_workers=min(workers, len(pending)), initializer=init_worker,
                                 initargs=(threads,), mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(func, shared, items[i]): i for i in pending}
            try:
                for future in as_completed(futures):
                    i = futures[future]
                    results[i] = future.result()
                    pending.remove(i)
                    if on_result is not None:
                        on_result(i, results[i])
            except BrokenProcessPool:
                crashes += 1
                if crashes > max_retries:
                    raise WorkersDiedError(f"a worker process died {crashes} time(s); gave up after max_retries="
                                           f"{max_retries} with {len(pending)} task(s) unfinished (out of memory? "
                                           "try fewer --workers, or a larger --max-retries)") from None
    return [results[i] for i in range(len(items))]


def init_worker(threads: int) -> None:
    """Worker initializer: ``threads`` BLAS/OpenMP threads (before torch is imported, or via torch),
    and joblib's worker processes released when this worker exits.

    A process started by ``multiprocessing`` joins its children on exit; joblib's reusable loky
    workers (the metrics' per-factor fits) only leave after 300 idle seconds, so without the
    shutdown every sweep worker would linger 5 minutes after its last cell.
    """
    os.environ["OMP_NUM_THREADS"] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    from multiprocessing.util import Finalize

    Finalize(None, _shut_down_joblib_workers, exitpriority=10)  # runs before the children are joined


def _shut_down_joblib_workers() -> None:
    if "joblib.externals.loky" in sys.modules:  # only if this worker used joblib processes
        from joblib.externals.loky import get_reusable_executor

        # the workers are idle here; killing them is immediate (a polite shutdown waits for their timeout)
        get_reusable_executor(kill_workers=True).shutdown(wait=True, kill_workers=True)

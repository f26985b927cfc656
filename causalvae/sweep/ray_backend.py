"""The Ray backend of :func:`causalvae.sweep.backends.map_tasks` (``pip install "ray[default]"``).

Each item is one Ray task with ``num_cpus=threads``, ``num_gpus=gpus_per_task`` and ``max_retries``
(Ray re-runs a task whose worker process or node died).  ``shared`` is put in the object store once.
When Ray is not yet initialised, it is started here (connecting to ``address``, or a local cluster
with ``workers`` CPUs) and shut down afterwards; an already initialised Ray is used as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


def map_ray(func: Callable, items: Sequence, *, shared: Any, address: str | None, workers: int | None,
            max_retries: int, threads: int, gpus_per_task: float,
            on_result: Callable[[int, Any], None] | None) -> list:
    try:
        import ray
    except ImportError:
        raise ImportError('backend "ray" needs Ray: pip install "ray[default]>=2.9"') from None
    started = not ray.is_initialized()
    if started:
        local = {"num_cpus": workers, "include_dashboard": False} if address is None else {}
        ray.init(address=address, log_to_driver=False, **local)
    elif address is not None:
        raise ValueError(f"Ray is already initialised in this process; cannot connect to address {address!r}")
    try:
        available = ray.cluster_resources()
        if gpus_per_task > available.get("GPU", 0):
            raise ValueError(f"each task asks for {gpus_per_task} GPU(s) but the Ray cluster has "
                             f"{available.get('GPU', 0)}")
        if threads > available.get("CPU", 0):
            raise ValueError(f"each task asks for {threads} CPU(s) but the Ray cluster has {available.get('CPU', 0)}")
        task = ray.remote(func).options(num_cpus=threads, num_gpus=gpus_per_task, max_retries=max_retries,
                                        retry_exceptions=False,
                                        runtime_env={"env_vars": {"OMP_NUM_THREADS": str(threads)}})
        shared_ref = ray.put(shared)
        refs = {task.remote(shared_ref, item): i for i, item in enumerate(items)}
        results: dict[int, Any] = {}
        waiting = list(refs)
        while waiting:
            done, waiting = ray.wait(waiting, num_returns=1)
            i = refs[done[0]]
            results[i] = ray.get(done[0])
            if on_result is not None:
                on_result(i, results[i])
        return [results[i] for i in range(len(items))]
    finally:
        if started:
            ray.shutdown()

"""Keep freed tensor memory inside the process (glibc ``malloc`` tuning for CPU work).

A CPU training step (or an intervention sweep) allocates and frees tens of megabytes of
activations.  By default glibc serves blocks above its mmap threshold with fresh ``mmap`` calls
and hands the top of the heap back to the system above its trim threshold, so every step pays
page faults that zero the same memory again (the thresholds adapt, so how much a process pays
varies from run to run).  Serving blocks up to 32 MiB from the heap and keeping up to
``keep_bytes`` of freed memory removes that cost; PyTorch's CPU tuning guide gets the same
effect by preloading jemalloc or tcmalloc.  Numerical results are unchanged: only where memory
comes from changes, not what is computed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_MAX = 32 << 20  # glibc's ceiling for M_MMAP_THRESHOLD on 64-bit systems


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 -- musl and others lack it: leave them alone
        return libc
    except (OSError, AttributeError):
        return None


def retain_freed_memory(keep_bytes: int = 512 << 20) -> bool:
    """Make glibc reuse freed memory instead of returning it to the system; process-wide.

    Returns True if the setting was applied (Linux with glibc), False where it does not apply.
    """
    if not _MMAP_THRESHOLD_MAX <= keep_bytes < 1 << 31:  # mallopt takes a C int
        raise ValueError(f"keep_bytes must be in [32 MiB, 2 GiB), got {keep_bytes}")
    libc = _glibc()
    if libc is None:
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)) and bool(
        libc.mallopt(_M_TRIM_THRESHOLD, int(keep_bytes)))

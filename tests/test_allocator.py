"""glibc allocator tuning: freed blocks are reused instead of being faulted in again."""

import subprocess
import sys

import pytest

from causalvae.allocator import _glibc, retain_freed_memory

# Allocate and free two 4 MiB arrays 20 times; print the minor page faults per page per cycle.
FAULTS_PER_PAGE = """
import resource, sys, numpy as np
if sys.argv[1] == "tuned":
    from causalvae.allocator import retain_freed_memory
    assert retain_freed_memory()
size = 4 << 20
def cycle():
    a = np.ones(size // 8); b = np.ones(size // 8); del a, b
cycle()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    cycle()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20 / (2 * size / 4096))
"""

needs_glibc = pytest.mark.skipif(_glibc() is None, reason="the tuning applies to glibc only (Linux)")


def _faults_per_page(mode: str) -> float:
    out = subprocess.run([sys.executable, "-c", FAULTS_PER_PAGE, mode], capture_output=True, text=True, check=True)
    return float(out.stdout)


@needs_glibc
def test_freed_blocks_are_reused_without_new_page_faults():
    # a fresh process with glibc's defaults faults the freed pages in again on every cycle
    assert _faults_per_page("default") > 0.2
    assert _faults_per_page("tuned") < 0.01


@needs_glibc
def test_applies_on_glibc():
    assert retain_freed_memory() is True


@pytest.mark.parametrize("keep", [1 << 20, 1 << 31])
def test_keep_bytes_out_of_range_is_refused(keep):
    with pytest.raises(ValueError, match=r"keep_bytes must be in \[32 MiB, 2 GiB\), got"):
        retain_freed_memory(keep)

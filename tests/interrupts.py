"""Reproducible Ctrl-Cs: :class:`Interrupter` raises ``KeyboardInterrupt`` at the k-th point where CPython
delivers a pending signal.

CPython delivers a pending ``KeyboardInterrupt`` only where its eval loop checks for signals: at
the start of a Python function (and when a generator resumes), right after a call into C returns,
and at backward jumps (loops). :class:`Interrupter` raises one at the k-th such point, counted
with a trace function (function starts, backward jumps) and a profile function (C returns), so
each seeded case is one reproducible Ctrl-C. Garbage collection is paused meanwhile: a collection
runs other code (finalizers, gc callbacks) at arbitrary moments, where an interrupt would be
swallowed as "Exception ignored".
"""

from __future__ import annotations

import gc
import sys
from types import FrameType


class Interrupter:
    """Raise ``KeyboardInterrupt`` at signal-check point ``first`` and, optionally, again at the
    ``then``-th C return after it (a second Ctrl-C while the first is being handled)."""

    def __init__(self, first: int | None = None, then: int | None = None) -> None:
        self.first, self.then = first, then
        self.points = self.c_returns = 0
        self.c_returns_at_first: int | None = None
        self.offsets: dict[FrameType, int] = {}
        self.first_call: int | None = None  # the check point at which the first Python function began

    def _point(self) -> None:
        self.points += 1
        if self.points == self.first:
            self.c_returns_at_first = self.c_returns
            raise KeyboardInterrupt(f"check point {self.points}")

    def trace(self, frame: FrameType, event: str, arg: object):
        if frame.f_code is Interrupter.__exit__.__code__:  # never interrupt the interrupter's own teardown
            return None
        if event == "call":
            self.first_call = self.first_call or self.points + 1
            self._point()
        elif event == "line":
            previous, self.offsets[frame] = self.offsets.get(frame), frame.f_lasti
            if previous is not None and frame.f_lasti <= previous:  # a backward jump
                self._point()
        return self.trace

    def profile(self, frame: FrameType, event: str, arg: object) -> None:
        if event != "c_return" or arg in (sys.settrace, sys.setprofile):
            return
        self.c_returns += 1
        if self.c_returns_at_first is not None and self.c_returns - self.c_returns_at_first == self.then:
            raise KeyboardInterrupt(f"second interrupt, C return {self.then} after the first")
        self._point()

    def __enter__(self) -> Interrupter:
        self.collecting = gc.isenabled()
        gc.disable()
        sys.setprofile(self.profile)
        sys.settrace(self.trace)
        return self

    def __exit__(self, *exc: object) -> None:
        sys.settrace(None)
        sys.setprofile(None)
        if self.collecting:
            gc.enable()

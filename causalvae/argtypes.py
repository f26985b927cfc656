"""argparse value types shared by every ``causalvae`` sub-command (no heavy imports)."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def bounded(kind: type, *, minimum: float, inclusive: bool) -> Callable[[str], float]:
    """Parse ``kind`` from text, requiring ``> minimum`` (or ``>= minimum`` when ``inclusive``)."""
    wanted = f"{'an integer' if kind is int else 'a number'} {'>=' if inclusive else '>'} {minimum:g}"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}") from None
        if value < minimum or (value == minimum and not inclusive):
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {value}")
        return value

    return parse


positive_int = bounded(int, minimum=0, inclusive=False)
non_negative_int = bounded(int, minimum=0, inclusive=True)
positive_float = bounded(float, minimum=0, inclusive=False)

"""argparse value types shared by every ``causalvae`` sub-command (torch only for a non-CPU ``--device``)."""

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


def hyper_parameter(text: str) -> tuple[str, float]:
    """``KEY=NUMBER`` (e.g. ``beta=4``) as ``(key, number)``; which keys a variant takes is checked later."""
    key, sep, value = text.partition("=")
    try:
        if not sep or not key:
            raise ValueError
        return key, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected KEY=NUMBER (e.g. beta=4), got {text!r}") from None


def check_device(name: str) -> str:
    """``name`` when it is a torch device this machine has; a ``ValueError`` saying why not otherwise.

    ``cpu`` is accepted without importing torch (so parsing the default stays cheap).
    """
    if name == "cpu":
        return name
    import torch

    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise ValueError(f"device {name!r} is not a torch device; expected cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        if torch.version.cuda is None:
            raise ValueError(f"device {name!r} needs CUDA, but this torch build ({torch.__version__}) has none; "
                             "use --device cpu or install a CUDA build of torch")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count or count == 0:
            raise ValueError(f"device {name!r} is not on this machine ({count} CUDA device(s) visible)")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {name!r} is not available on this machine (no Apple MPS)")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device {name!r} is not supported; expected cpu, cuda, cuda:N or mps")
    return name


def device(text: str) -> str:
    """argparse type of ``--device``: :func:`check_device` with its message as the usage error."""
    try:
        return check_device(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None

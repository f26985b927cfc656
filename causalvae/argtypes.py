"""Value types: checks of numeric and index arguments for the library's entry points (as
scikit-learn's ``check_scalar``) and the argparse types shared by every ``causalvae`` sub-command
(torch only for a non-CPU ``--device``)."""

from __future__ import annotations

import argparse
import math
import numbers
from collections.abc import Callable, Iterable
from typing import Any


def _range_text(minimum: float | None, maximum: float | None, include_min: bool, include_max: bool) -> str:
    low = "" if minimum is None else f"{'>=' if include_min else '>'} {minimum:g}"
    high = "" if maximum is None else f"{'<=' if include_max else '<'} {maximum:g}"
    return " and ".join(part for part in (low, high) if part)


def check_int(value: Any, *, name: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an ``int`` when it is an integer (not a bool, not a float) in ``[minimum, maximum]``.

    >>> check_int(3, name="batch_size", minimum=1)
    3
    >>> check_int(2.5, name="batch_size", minimum=1)
    Traceback (most recent call last):
    ...
    TypeError: batch_size must be an integer >= 1, got 2.5 (float)
    """
    wanted = " ".join(("an integer", _range_text(minimum, maximum, True, True))).strip()
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be {wanted}, got {value!r} ({type(value).__name__})")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be {wanted}, got {value!r}")
    return int(value)


def check_float(value: Any, *, name: str, minimum: float | None = None, maximum: float | None = None,
                include_min: bool = True, include_max: bool = True) -> float:
    """``value`` as a ``float`` when it is a finite real number (not a bool) in the given range.

    >>> check_float(0.05, name="alpha", minimum=0, maximum=1, include_min=False)
    0.05
    >>> check_float(float("nan"), name="alpha", minimum=0, maximum=1)
    Traceback (most recent call last):
    ...
    ValueError: alpha must be a finite number >= 0 and <= 1, got nan
    """
    wanted = " ".join(("a finite number", _range_text(minimum, maximum, include_min, include_max))).strip()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {wanted}, got {value!r} ({type(value).__name__})")
    number = float(value)
    too_low = minimum is not None and (number < minimum or number == minimum and not include_min)
    too_high = maximum is not None and (number > maximum or number == maximum and not include_max)
    if not math.isfinite(number) or too_low or too_high:
        raise ValueError(f"{name} must be {wanted}, got {value!r}")
    return number


def check_floats(values: Iterable[Any], *, name: str, min_size: int = 1) -> list[float]:
    """Finite real numbers (e.g. a grid of intervention values) as a list of floats.

    >>> check_floats([-1, 0.5], name="values")
    [-1.0, 0.5]
    """
    items = _items(values, name=name, what="finite numbers", min_size=min_size)
    return [check_float(v, name=f"{name}[{i}]") for i, v in enumerate(items)]


def check_indices(values: Iterable[Any], *, name: str, size: int | None = None, min_size: int = 1) -> list[int]:
    """Integer indices (in ``[0, size)`` when ``size`` is given) as a list of ints; fractions are refused.

    >>> check_indices([0, 2], name="latents", size=3)
    [0, 2]
    >>> check_indices([0.5], name="latents", size=3)
    Traceback (most recent call last):
    ...
    TypeError: latents[0] must be an integer >= 0 and <= 2, got 0.5 (float)
    """
    items = _items(values, name=name, what="integer indices", min_size=min_size)
    top = None if size is None else size - 1
    return [check_int(v, name=f"{name}[{i}]", minimum=0, maximum=top) for i, v in enumerate(items)]


def _items(values: Any, *, name: str, what: str, min_size: int) -> list[Any]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise TypeError(f"{name} must be a sequence of {what}, got {type(values).__name__}")
    items = list(values.tolist() if hasattr(values, "tolist") else values)
    if len(items) < min_size:
        raise ValueError(f"{name} must hold at least {min_size} of {what}, got {len(items)}")
    return items


def bounded(kind: type, *, minimum: float, inclusive: bool) -> Callable[[str], float]:
    """argparse type parsing ``kind`` from text, requiring ``> minimum`` (or ``>= minimum`` when ``inclusive``)."""
    wanted = f"{'an integer' if kind is int else 'a number'} {'>=' if inclusive else '>'} {minimum:g}"

    def parse(text: str):
        try:
            value = kind(text)
            if kind is int:
                return check_int(value, name="value", minimum=minimum + (0 if inclusive else 1))
            return check_float(value, name="value", minimum=minimum, include_min=inclusive)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}") from None

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

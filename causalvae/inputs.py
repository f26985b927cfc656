"""Checks of the model and input batches every model-facing entry point starts with (as scikit-learn's
``check_array``); numeric and index arguments are checked by :mod:`causalvae.argtypes`.

Each error names the argument, what was expected and what was given.  Models and batches are
checked before any work: a model on the meta device or with NaN / infinite weights, a batch of
the wrong shape, kind or device, or holding NaN / infinity, never reaches a forward pass.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

_FINITE_CHUNK = 1 << 22  # elements checked at once (bounded memory on whole datasets)


def check_model(model: Any, *, name: str = "model", finite: bool = True) -> nn.Module:
    """``model`` when it is an ``nn.Module`` with real tensors (none on the meta device) and, when ``finite``,
    finite parameters (structural uses such as graph extraction pass ``finite=False``).

    Examples
    --------
    >>> net = nn.Linear(2, 1)
    >>> check_model(net) is net
    True
    >>> with torch.no_grad():
    ...     _ = net.bias.fill_(float("nan"))
    >>> check_model(net)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: model has non-finite weights: bias holds 1 NaN / inf value(s) of 1; expected finite values ...
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"{name} must be a torch.nn.Module, got {type(model).__name__}")
    parameters = dict(model.named_parameters())
    for label, tensor in (*parameters.items(), *model.named_buffers()):
        if tensor.is_meta:
            raise ValueError(f"{name} has tensors on the meta device (e.g. {label}), which hold no values; "
                             f"expected a model with real weights (load or initialise it first, e.g. "
                             f"model.to_empty(device='cpu') and then load a state dict)")
        if finite and label in parameters and (tensor.is_floating_point() or tensor.is_complex()):
            bad = int((~torch.isfinite(tensor.detach())).sum())
            if bad:
                raise ValueError(f"{name} has non-finite weights: {label} holds {bad} NaN / inf value(s) of "
                                 f"{tensor.numel()}; expected finite values (check how it was trained or loaded)")
    return model


def model_device(model: nn.Module, device: torch.device | str | None, *, name: str = "device") -> torch.device:
    """``device`` (default: where ``model``'s parameters are); the model must already be there.

    Entry points never move a caller's model: a mismatch is refused.

    >>> model_device(nn.Linear(2, 2), None)
    device(type='cpu')
    """
    params = list(model.parameters())
    where = params[0].device if params else torch.device("cpu")
    if device is None:
        return where
    try:
        wanted = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"{name} must be a torch device such as 'cpu' or 'cuda:0', got {device!r}") from None
    if params and (wanted.type != where.type or (wanted.index is not None and wanted != where)):
        raise ValueError(f"model parameters are on {where} but {name}={wanted} was requested; "
                         f"move the model first (model.to({str(wanted)!r}))")
    return wanted


def input_shape_of(model: nn.Module) -> tuple[int, ...] | None:
    """The shape of one input ``model`` declares (``model.config.input_shape``), None when it declares none."""
    shape = getattr(getattr(model, "config", None), "input_shape", None)
    return None if shape is None else tuple(int(n) for n in shape)


def check_batch(x: Any, *, name: str = "x", shape: tuple[int, ...] | None = None, finite: bool = True) -> Any:
    """``x`` when it is a batch of inputs (N >= 1 rows) of real numbers, finite where it is in memory.

    A tensor that requires grad is detached (effects are read without autograd history).

    Parameters
    ----------
    x : NumPy array, torch tensor or lazy array (``shape``, ``len`` and row indexing).
    name : the argument's name in error messages.
    shape : the shape of one input the model expects (e.g. ``model.config.input_shape``), when known.
    finite : check finiteness here (callers that read only some rows check those with :func:`check_finite_rows`).

    Examples
    --------
    >>> check_batch(np.zeros((2, 3))).shape
    (2, 3)
    >>> check_batch(np.array([[0.0, np.nan]]), name="x_prime")
    Traceback (most recent call last):
    ...
    ValueError: x_prime holds 1 NaN / inf value(s) (first at row 0); expected finite values
    """
    if isinstance(x, (str, bytes)) or not hasattr(x, "shape") or not hasattr(x, "__len__"):
        raise TypeError(f"{name} must be a batch of inputs (an array or tensor of shape (N, ...)), "
                        f"got {type(x).__name__}")
    if len(x.shape) < 2:
        raise ValueError(f"{name} must be a batch of shape (N, C, H, W) or (N, D), got shape {tuple(x.shape)}")
    if len(x) == 0:
        raise ValueError(f"{name} is empty; expected at least one input")
    if shape is not None and tuple(x.shape[1:]) != tuple(shape):
        raise ValueError(f"{name} has inputs of shape {tuple(x.shape[1:])}; the model expects {tuple(shape)}")
    if isinstance(x, torch.Tensor):
        if x.is_meta:
            raise ValueError(f"{name} is on the meta device and holds no values; expected a tensor with data")
        if x.is_complex() or x.dtype not in _TORCH_REAL:
            raise TypeError(f"{name} must hold real numbers, got dtype {x.dtype}")
        x = x.detach()
    else:
        kind = getattr(getattr(x, "dtype", None), "kind", "f")
        if kind not in "biuf":
            raise TypeError(f"{name} must hold real numbers, got dtype {x.dtype}")
    if finite and isinstance(x, (np.ndarray, torch.Tensor)):
        check_finite_rows(x, name=name)
    return x


_TORCH_REAL = (torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.float16,
               torch.bfloat16, torch.float32, torch.float64)


def check_finite_rows(x: np.ndarray | torch.Tensor, *, name: str, rows: np.ndarray | None = None) -> None:
    """Raise a ``ValueError`` naming ``name`` when the batch ``x`` holds NaN or infinity; ``rows`` are the
    dataset rows of ``x`` (for the message), default ``0 .. len(x) - 1``."""
    is_float = x.is_floating_point() if isinstance(x, torch.Tensor) else x.dtype.kind == "f"
    if not is_float:
        return
    step = max(1, _FINITE_CHUNK // max(1, int(np.prod(x.shape[1:]))))
    finite = torch.isfinite if isinstance(x, torch.Tensor) else np.isfinite
    for start in range(0, len(x), step):
        ok = np.asarray(finite(x[start:start + step]).reshape(min(step, len(x) - start), -1).all(1))
        if not ok.all():
            first = start + int(np.argmin(ok))
            bad = sum(int((~finite(x[s:s + step])).sum()) for s in range(0, len(x), step))
            raise ValueError(f"{name} holds {bad} NaN / inf value(s) (first at row "
                             f"{first if rows is None else int(rows[first])}); expected finite values")

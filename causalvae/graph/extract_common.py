"""Pieces shared by the fx and the forward-hook extractors: stages, shapes, leaves, side-effect guards."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping

import torch
from torch import nn

from causalvae.graph.schema import STAGES

DEFAULT_STAGES: dict[str, str] = {"encoder": "encoder", "latent": "latent", "decoder": "decoder"}


def resolve_stages(stages: Mapping[str, str] | None) -> dict[str, str]:
    """Check a ``{module path prefix: stage}`` mapping (``""`` matches every module)."""
    mapping = dict(DEFAULT_STAGES if stages is None else stages)
    for prefix, stage in mapping.items():
        if stage not in STAGES:
            raise ValueError(f"stages[{prefix!r}] must be one of {STAGES}, got {stage!r}")
    return mapping


def stage_of(path: str, stages: Mapping[str, str]) -> str:
    """The stage of the longest prefix of ``path`` (whole dotted components) in ``stages``, else ``"other"``."""
    best, best_len = "other", -1
    for prefix, stage in stages.items():
        matches = prefix == "" or path == prefix or path.startswith(prefix + ".")
        if matches and len(prefix) > best_len:
            best, best_len = stage, len(prefix)
    return best


def qualified(prefix: str, path: str) -> str:
    """``prefix.path``, or whichever of the two is not empty."""
    return ".".join(p for p in (prefix, path) if p)


def format_shape(shape: Iterable[int]) -> str:
    """``(2, 64, 8, 8) -> "2x64x8x8"``; a 0-d tensor is ``"scalar"``."""
    dims = [str(int(d)) for d in shape]
    return "x".join(dims) if dims else "scalar"


def describe_value(value: object) -> tuple[str, str]:
    """``(tensor_shape, dtype)`` strings for a tensor, a tensor-like metadata or a (nested) tuple/dict of them.

    Non-tensor values give ``("", "")``.  Containers are written ``"(2x4, 2x4)"`` and ``"{mu: 2x4}"``;
    non-tensors inside them by their type name (``"(2x4, Normal)"``).
    """
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return format_shape(value.shape), str(value.dtype).replace("torch.", "")
    if isinstance(value, Mapping):
        parts = [(k, _describe_item(v)) for k, v in value.items()]
        return ("{" + ", ".join(f"{k}: {s}" for k, (s, _) in parts) + "}",
                _common_dtype(d for _, (_, d) in parts))
    if isinstance(value, (tuple, list)):
        parts = [_describe_item(v) for v in value]
        return "(" + ", ".join(s for s, _ in parts) + ")", _common_dtype(d for _, d in parts)
    return "", ""


def _describe_item(value: object) -> tuple[str, str]:
    shape, dtype = describe_value(value)
    return (shape, dtype) if shape else (type(value).__name__, "")


def _common_dtype(dtypes: Iterable[str]) -> str:
    distinct = sorted({d for d in dtypes if d})
    return distinct[0] if len(distinct) == 1 else ",".join(distinct)


def leaf_paths(model: nn.Module, leaf_modules: Iterable[str | type] | None) -> set[str]:
    """Module paths kept whole: every module without children plus the user's sites.

    ``leaf_modules`` holds module paths or module classes.  Modules inside a named leaf are
    not leaves themselves.  Unknown paths raise ``ValueError``.
    """
    modules = dict(model.named_modules())
    named: set[str] = set()
    for item in leaf_modules or ():
        if isinstance(item, type):
            named.update(p for p, m in modules.items() if isinstance(m, item) and p)
        elif item in modules and item:
            named.add(item)
        else:
            known = sorted(p for p in modules if p)
            raise ValueError(f"leaf_modules: unknown module path {item!r}; expected one of {known[:20]}"
                             + (" ..." if len(known) > 20 else ""))
    leaves = named | {p for p, m in modules.items() if p and not any(True for _ in m.children())}
    return {p for p in leaves if not any(p.startswith(q + ".") for q in named)}


def n_params(module: nn.Module) -> int:
    return int(sum(p.numel() for p in module.parameters()))


def example_tensors(example_input: object) -> tuple[torch.Tensor, ...]:
    """The positional inputs: one tensor or a tuple/list of tensors."""
    inputs = tuple(example_input) if isinstance(example_input, (tuple, list)) else (example_input,)
    if not inputs or not all(isinstance(t, torch.Tensor) for t in inputs):
        kinds = [type(t).__name__ for t in inputs]
        raise TypeError(f"example_input must be a tensor or a tuple of tensors, got {kinds}")
    if any(t.is_meta for t in inputs):
        raise ValueError("example_input is on the meta device and holds no values; expected tensors with data")
    if any(t.is_complex() for t in inputs):
        raise TypeError(f"example_input must hold real numbers, got dtypes {[str(t.dtype) for t in inputs]}")
    return inputs


@contextlib.contextmanager
def no_side_effects(model: nn.Module, inputs: tuple[torch.Tensor, ...]) -> Iterator[None]:
    """Run a forward pass without changing the model's buffers (e.g. BatchNorm statistics) or the global RNGs
    (CPU, and the CUDA devices the inputs live on)."""
    saved = {name: buf.detach().clone() for name, buf in model.named_buffers()}
    cuda = sorted({t.device.index or 0 for t in inputs if t.is_cuda})
    try:
        with torch.random.fork_rng(devices=cuda):
            yield
    finally:
        with torch.no_grad():
            for name, buf in model.named_buffers():
                if name in saved:
                    buf.copy_(saved[name])

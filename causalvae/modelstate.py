"""Interrupt-safe changes to a model's global state: forward hooks, train / eval flags, grad mode.

A Ctrl-C reaches Python code as a ``KeyboardInterrupt`` wherever the interpreter checks for
signals: when a function starts, after a call into C returns, at a loop's backward jump. That
includes a context manager's ``__enter__`` after it changed something but before the ``with``
block (whose ``__exit__`` would undo it) is entered, and the start of ``__exit__`` itself. So
changes here are made inside a ``try`` whose handler undoes them; undoing works from a snapshot
(not from a record of what was done), is idempotent, and restarts when a second Ctrl-C
interrupts it; and :func:`restores_model_state` puts the restore in the caller's frame, where no
function start precedes its ``try``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import torch
from torch import nn

T = TypeVar("T")

# Process-wide nn.Module attributes that torch.fx replaces while it traces: its patcher pops a patch
# before reverting it, so an interrupt there leaves every module call routed to a dead tracer.
_TRACER_PATCHED = ("__call__", "__getattr__")
# nn.Module's hook dictionaries, keyed by hook id, with the side tables that share those ids.
_HOOK_TABLES = (("_forward_hooks", ("_forward_hooks_with_kwargs", "_forward_hooks_always_called")),
                ("_forward_pre_hooks", ("_forward_pre_hooks_with_kwargs",)))


def run_to_completion(step: Callable[[], None]) -> None:
    """Run the idempotent ``step`` until it finishes without a ``KeyboardInterrupt``.

    A ``KeyboardInterrupt`` raised inside ``step`` (a second Ctrl-C while restoring state)
    restarts it; the last such interrupt is raised once ``step`` has completed.
    """
    pending: KeyboardInterrupt | None = None
    while True:
        try:
            step()
        except KeyboardInterrupt as exc:
            pending = exc
        else:
            break
    if pending is not None:
        try:
            raise pending
        finally:  # the exception's traceback holds this frame: drop the frame's reference to it (no cycle)
            pending = None


def drop_hooks(module: nn.Module, keep: Callable[[int, Callable], bool]) -> None:
    """Remove the forward (pre-)hooks of ``module`` for which ``keep(hook_id, hook)`` is false.

    Removal is by id from the module's hook dictionaries, so it also removes a hook whose
    registration was interrupted before its handle reached the caller.
    """
    for table, side_tables in _HOOK_TABLES:
        hooks = getattr(module, table)
        for hook_id in [h for h, fn in hooks.items() if not keep(h, fn)]:
            for side in side_tables:
                getattr(module, side).pop(hook_id, None)
            hooks.pop(hook_id, None)


class ModelState:
    """A read-only snapshot of ``model``'s forward (pre-)hook ids, training flags, parameters'
    ``requires_grad`` flags and the grad mode.

    :meth:`restore` removes every forward (pre-)hook added to the model's modules since the
    snapshot, sets every module's ``training`` flag and every parameter's ``requires_grad`` back,
    restores the grad mode, and ``nn.Module.__call__`` / ``__getattr__`` if a torch.fx trace was
    interrupted meanwhile.
    """

    def __init__(self, model: nn.Module) -> None:
        self.modules = tuple(model.modules())
        self.training = tuple(m.training for m in self.modules)
        self.parameters = tuple(model.parameters())
        self.requires_grad = tuple(p.requires_grad for p in self.parameters)
        # hook ids come from one global counter, so one set per module covers both tables
        self.hook_ids = tuple(frozenset().union(*(getattr(m, table) for table, _ in _HOOK_TABLES))
                              for m in self.modules)
        self.grad_enabled = torch.is_grad_enabled()
        self.module_methods = tuple(vars(nn.Module)[name] for name in _TRACER_PATCHED)

    def _restore_once(self) -> None:
        for name, method in zip(_TRACER_PATCHED, self.module_methods):
            if vars(nn.Module)[name] is not method:
                setattr(nn.Module, name, method)
        torch.set_grad_enabled(self.grad_enabled)
        for parameter, flag in zip(self.parameters, self.requires_grad):
            if parameter.requires_grad != flag:
                parameter.requires_grad_(flag)
        for module, flag, ids in zip(self.modules, self.training, self.hook_ids):
            module.training = flag
            drop_hooks(module, lambda hook_id, _fn, ids=ids: hook_id in ids)

    def restore(self) -> None:
        """Put hooks, flags and grad mode back; safe against a second Ctrl-C meanwhile."""
        run_to_completion(self._restore_once)


def restores_model_state(*, training: bool | None = None, grad: bool | None = None,
                         model_of: Callable[..., Any] | None = None
                         ) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Decorator for ``fn(model, ...)``: leave ``model`` and the grad mode as they were found.

    The call runs with ``model`` in ``training`` mode and grad mode ``grad`` (None: unchanged).
    Afterwards, also after an exception or a Ctrl-C at any moment, every module's training flag,
    every parameter's ``requires_grad`` and the grad mode are what they were before the call, and
    forward (pre-)hooks added to the model's modules during the call are removed.

    ``model_of(*args, **kwargs)`` finds the model when it is not the first argument (methods:
    ``model_of=lambda self, *a, **k: self.model``); a call whose model it cannot find (not an
    ``nn.Module``) runs unguarded, so the function's own argument check reports it.

    The restore sits in the wrapper's own ``finally``, with no function call between entering it
    and the ``try`` that catches an interrupt striking as :meth:`ModelState.restore` begins.

    Examples
    --------
    >>> @restores_model_state(training=False, grad=False)
    ... def modes(model):
    ...     return model.training, torch.is_grad_enabled()
    >>> net = nn.Sequential(nn.Linear(2, 2), nn.Dropout())
    >>> modes(net), (net.training, torch.is_grad_enabled())
    ((False, False), (True, True))
    """
    def decorate(fn: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> T:
            model = model_of(*args, **kwargs) if model_of is not None else args[0] if args else None
            if not isinstance(model, nn.Module):
                return fn(*args, **kwargs)
            state = ModelState(model)  # read-only: an interrupt before the try changes nothing
            try:
                if training is not None:
                    model.train(training)
                if grad is not None:
                    torch.set_grad_enabled(grad)
                return fn(*args, **kwargs)
            finally:
                try:
                    state.restore()
                except KeyboardInterrupt:  # it struck before restore's own loop began
                    state.restore()
                    raise
        return wrapper
    return decorate

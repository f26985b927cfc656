"""Training loop: deterministic for a seed on CPU, logged per step, checkpointed and resumable.

A run writes into ``checkpoint_dir``:

- ``last.safetensors``: weights, optimiser states, config and the step reached;
- ``log.jsonl``: one JSON record per step (``step``, ``loss``, every loss term, ...).

Calling :func:`train` again with the same directory resumes from ``last.safetensors``;
because batches and noise are functions of ``(seed, step)``, a run killed at any point and
resumed ends with bit-identical weights to an uninterrupted run.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from causalvae import allocator
from causalvae.argtypes import check_float, check_int
from causalvae.inputs import check_batch, check_model
from causalvae.io import atomic_open
from causalvae.models.batches import BatchSource, observations_of, step_seed
from causalvae.models.checkpoint import load_checkpoint, save_checkpoint
from causalvae.models.scm_vae import STRUCTURE_TERMS, SCMVAE
from causalvae.models.variants import adam, adversary_loss, get_variant, make_optimizers, objective
from causalvae.models.vae import VAE

CHECKPOINT_NAME = "last.safetensors"
LOG_NAME = "log.jsonl"
#: Progress lines written over a run when stderr is not a terminal (a log file, a pipe).
PROGRESS_LINES = 10


@dataclass(frozen=True)
class TrainingResult:
    """Outcome of :func:`train`.

    Attributes
    ----------
    steps : total optimisation steps the model has now had in this run (including resumed ones).
    history : the per-step log records of the whole run.
    seconds : wall time of this call's steps.
    images_per_second : training throughput of this call.
    data_seconds : part of ``seconds`` spent obtaining batches (indexing, or waiting for the
        prefetch worker): near 0 when data loading is off the critical path.
    checkpoint : path of the final checkpoint (None without ``checkpoint_dir``).
    """

    steps: int
    history: tuple[dict[str, float], ...]
    seconds: float
    images_per_second: float
    data_seconds: float
    checkpoint: Path | None


class _Progress:
    """Training progress on stderr: a tqdm bar on a terminal, otherwise one plain line per tenth of the run."""

    def __init__(self, name: str, *, total: int, initial: int, enabled: bool) -> None:
        self.name, self.total = name, total
        self.every = max(1, (total - initial) // PROGRESS_LINES)
        self.lines = enabled and not sys.stderr.isatty()
        self.bar = None
        if enabled and not self.lines:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=initial, desc=name, unit="step")

    def update(self, record: dict[str, float]) -> None:
        step = int(record["step"])
        terms = {k: f"{v:.4g}" for k, v in record.items() if k != "step"}
        if self.bar is not None:
            self.bar.update(1)
            if step % 10 == 1 or step == self.total:
                self.bar.set_postfix(terms, refresh=False)
        elif self.lines and (step % self.every == 0 or step == self.total):
            print(f"{self.name}: step {step}/{self.total} " + " ".join(f"{k}={v}" for k, v in terms.items()),
                  file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _check_batch(batch: torch.Tensor, model: VAE, step: int) -> None:
    expected = model.config.input_shape
    if tuple(batch.shape[1:]) != expected:
        raise ValueError(f"observations must have shape (N, {', '.join(map(str, expected))}) for this model, "
                         f"got (N, {', '.join(map(str, batch.shape[1:]))})")
    low, high = (float(v) for v in torch.aminmax(batch))  # one pass: NaN and inf show in the extremes
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"batch {step} contains NaN or infinite values")
    if model.config.likelihood == "bernoulli" and (low < 0 or high > 1):
        raise ValueError(f"a Bernoulli likelihood needs observations in [0, 1], got range "
                         f"[{low:.3g}, {high:.3g}] in batch {step}")


def _read_log(path: Path, *, until: int) -> list[dict[str, float]]:
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # a line cut by the kill: everything from here is past the checkpoint
            break
        if record["step"] > until:
            break
        records.append(record)
    return records


def _resume(directory: Path, model: VAE, optimizers: dict, run: dict[str, Any]) -> tuple[int, list[dict]]:
    """Restore the state saved in ``directory``; returns (step reached, log records up to it)."""
    ckpt_path = directory / CHECKPOINT_NAME
    if not ckpt_path.exists():
        return 0, []
    ckpt = load_checkpoint(ckpt_path)
    saved_run = ckpt.training.get("run", {})
    for key, value in run.items():
        if saved_run.get(key) != value:
            raise ValueError(f"{directory} holds a different run: {key} is {saved_run.get(key)!r} there, "
                             f"this call has {value!r}; use a new checkpoint_dir to start afresh")
    ckpt.restore(model, optimizers)
    step = int(ckpt.training["step"])
    history = _read_log(directory / LOG_NAME, until=step)
    with atomic_open(directory / LOG_NAME, "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in history)
    return step, history


def train(model: VAE, data: Any, *, steps: int, batch_size: int = 64, lr: float = 1e-4, seed: int = 0,
          device: str | torch.device = "cpu", checkpoint_dir: str | os.PathLike | None = None,
          checkpoint_every: int = 500, progress: bool = True, channels_last: bool = True,
          retain_freed_memory: bool = True, cache_limit_bytes: int = 1 << 30, prefetch: int = 4) -> TrainingResult:
    """Train ``model`` with its variant's objective (Adam; FactorVAE also trains its discriminator).

    Parameters
    ----------
    model : a VAE from :func:`causalvae.models.make_vae` (trained in place).
    data : a FactorDataset or an array of observations (N x C x 64 x 64 or N x D), possibly lazy
        (a FactorDataset for label-supervised variants, whose batches carry their factor rows).
    steps : total number of steps of the run (a resumed run continues up to it).
    batch_size, lr : mini-batch size and Adam learning rate of the VAE.
    seed : seeds batch order and reparameterisation noise (weights are seeded by ``make_vae``).
    device : torch device.
    checkpoint_dir : where to write ``last.safetensors`` and ``log.jsonl``; an existing checkpoint
        there is resumed (its seed, batch size, lr and model config must match this call).
    checkpoint_every : steps between checkpoints (one is always written at the end).
    progress : show progress (loss, KL and per-term losses) on stderr: a tqdm bar on a terminal,
        else :data:`PROGRESS_LINES` plain lines (a redirected bar would be one line of frames).
    channels_last : use the channels-last memory format for conv models (faster on CPU;
        same results up to float rounding).
    retain_freed_memory : on the CPU, let glibc keep freed activation memory for the next step
        (process-wide, up to 512 MiB; bit-identical results, see :mod:`causalvae.allocator`).
    cache_limit_bytes, prefetch : data loading (see :class:`causalvae.models.batches.BatchSource`).

    Examples
    --------
    >>> model = make_vae("beta-vae", input_shape=(8,), latent_dim=2)   # doctest: +SKIP
    >>> train(model, np.random.rand(256, 8).astype("float32"), steps=10, progress=False)  # doctest: +SKIP
    """
    if not isinstance(check_model(model), VAE):  # every argument is checked before the model is moved or stepped
        raise TypeError(f"model must be a VAE from causalvae.models.make_vae, got {type(model).__name__}")
    steps, checkpoint_every = check_int(steps, name="steps", minimum=0), check_int(checkpoint_every,
                                                                                     name="checkpoint_every", minimum=1)
    batch_size, seed = check_int(batch_size, name="batch_size", minimum=1), check_int(seed, name="seed", minimum=0)
    lr = check_float(lr, name="lr", minimum=0, include_min=False)
    x = check_batch(observations_of(data), name="data", shape=model.config.input_shape)
    source = BatchSource(x, batch_size=batch_size, seed=seed, cache_limit_bytes=cache_limit_bytes,
                         prefetch=prefetch)
    # label-supervised models (scm-vae) get each batch's factor rows: same seed, same permutation
    labels = (BatchSource(model.label_array(data), batch_size=batch_size, seed=seed)
              if getattr(model, "label_supervised", False) else None)
    device = torch.device(device)
    if retain_freed_memory and device.type == "cpu":
        allocator.retain_freed_memory()
    memory_format = (torch.channels_last if channels_last and model.config.architecture == "conv64"
                     else torch.contiguous_format)
    model.to(device=device, memory_format=memory_format)
    optimizers = make_optimizers(model, lr=lr)
    run = {"seed": int(seed), "batch_size": int(batch_size), "lr": float(lr), "dataset_size": source.n,
           "config": model.config.to_dict()}
    directory = Path(checkpoint_dir) if checkpoint_dir is not None else None
    start, history = 0, []
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
        start, history = _resume(directory, model, optimizers, run)
    if start > steps:
        raise ValueError(f"{directory} already holds {start} steps, more than the requested {steps}")

    def checkpoint(step: int) -> None:
        save_checkpoint(directory / CHECKPOINT_NAME, model, optimizers=optimizers,
                        training={"step": step, "run": run})

    bar = _Progress(model.config.variant, total=steps, initial=start, enabled=progress)
    log = open(directory / LOG_NAME, "a", encoding="utf-8") if directory is not None else None
    batches = source.iterate(start, steps)
    began = time.perf_counter()
    model.train()
    data_seconds = 0.0
    try:
        for step in range(start, steps):
            fetch_started = time.perf_counter()
            batch = next(batches)
            data_seconds += time.perf_counter() - fetch_started
            _check_batch(batch, model, step)
            batch = batch.to(device, non_blocking=True).contiguous(
                memory_format=memory_format if batch.dim() == 4 else torch.contiguous_format)
            generator = torch.Generator(device=device).manual_seed(step_seed(seed, step))
            total, terms, z = objective(model, batch, generator=generator,
                                        labels=None if labels is None else labels.batch(step).to(device))
            optimizers["vae"].zero_grad(set_to_none=True)
            total.backward()
            optimizers["vae"].step()
            record = {"step": step + 1, "loss": total.item(), **{k: v.item() for k, v in terms.items()}}
            if "adversary" in optimizers:
                d_loss = adversary_loss(model, z, generator=generator)
                optimizers["adversary"].zero_grad(set_to_none=True)
                d_loss.backward()
                optimizers["adversary"].step()
                record["adversary_loss"] = d_loss.item()
            if not math.isfinite(record["loss"]):
                raise FloatingPointError(f"loss became {record['loss']} at step {step + 1}; lower lr={lr}")
            history.append(record)
            if log is not None:
                log.write(json.dumps(record) + "\n")
                if (step + 1) % checkpoint_every == 0 or step + 1 == steps:
                    log.flush()
                    checkpoint(step + 1)
            bar.update(record)
    finally:
        batches.close()  # stops the prefetch worker at once if the loop failed
        bar.close()
        if log is not None:
            log.close()
        model.to(memory_format=torch.contiguous_format)
        model.eval()
    seconds = time.perf_counter() - began
    done = steps - start
    if directory is not None and start == steps and not (directory / CHECKPOINT_NAME).exists():
        checkpoint(steps)
    return TrainingResult(steps=steps, history=tuple(history), seconds=seconds, data_seconds=data_seconds,
                          images_per_second=done * batch_size / seconds if seconds > 0 and done else 0.0,
                          checkpoint=directory / CHECKPOINT_NAME if directory is not None else None)


def fit_structure(model: SCMVAE, data: Any, *, steps: int, batch_size: int = 64, seed: int = 0) -> list[dict[str, float]]:
    """Train only ``model``'s SCM layer (``A`` and the mechanisms) on ``data``'s factor labels.

    The reconstruction's gradient never reaches the SCM layer, so this is exactly what
    :func:`~causalvae.models.training.train` does to it with the same ``steps``, ``batch_size`` and
    ``seed`` (the same label batches, the same Adam update at ``scm_lr``, the same dual updates) —
    without encoding or rendering an image.  It makes the structure learning measurable in seconds.
    Returns the history of the weighted terms and ``h(A)`` per step.

    >>> from causalvae.data import synthetic
    >>> from causalvae.models import make_vae
    >>> ds = synthetic.load("scm-linear", n=256)
    >>> model = make_vae("scm-vae", input_shape=tuple(ds.x.shape[1:]), latent_dim=6, hidden=(16,), n_concepts=6)
    >>> history = fit_structure(model, ds, steps=3, batch_size=64)
    >>> len(history), sorted(history[-1])
    (3, ['dag', 'dag_h', 'mechanism', 'sparsity', 'step'])
    """
    if not isinstance(model, SCMVAE):
        raise TypeError(f"model must be an SCMVAE (variant 'scm-vae'), got {type(model).__name__}")
    steps = check_int(steps, name="steps", minimum=0)
    labels = BatchSource(model.label_array(data), batch_size=check_int(batch_size, name="batch_size", minimum=1),
                         seed=check_int(seed, name="seed", minimum=0))
    spec, hyper = get_variant(model.config.variant), model.config.hyper
    optimizer = adam(model.scm.parameters(), lr=hyper["scm_lr"])
    history = []
    model.train()
    for step in range(steps):
        model.dual_update()
        terms = model.structure_terms(labels.batch(step))
        total = sum(spec.weight(t, hyper) * terms[t] for t in STRUCTURE_TERMS)
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()
        history.append({"step": step + 1, **{k: float(v.detach()) for k, v in terms.items()}})
    return history

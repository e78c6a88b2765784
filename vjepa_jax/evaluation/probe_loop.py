"""End to end: the probe grid trained on frozen features computed on the fly, and evaluated.

``train_probes`` is the loop (train, evaluate at epoch ends, report through
callbacks) shared by the in-memory ``run_probe`` and the resumable
command-line job (``evaluation.job``); ``evaluate_probes`` one pass over the
validation batches; ``summarize`` / ``eval_line`` what is reported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import flax
import jax
import jax.numpy as jnp
import numpy as np

from vjepa_jax import sharding
from vjepa_jax.errors import ConfigError, DataError
from vjepa_jax.evaluation.probe_recipe import ProbeHeadConfig, ProbeOptimizerConfig
from vjepa_jax.evaluation.probe_state import ProbeState, probe_setup
from vjepa_jax.evaluation.probe_steps import device_batch, jit_probe_fns
from vjepa_jax.input.bad_input import BadInputMonitor

PyTree = Any


def _on_mesh(tree: PyTree, mesh: jax.sharding.Mesh) -> bool:
    return all(isinstance(x, jax.Array) and isinstance(x.sharding, jax.sharding.NamedSharding)
               and x.sharding.mesh == mesh for x in jax.tree_util.tree_leaves(tree))


def evaluate_probes(state: ProbeState, encoder_params: PyTree, val_batches: Iterable[Mapping],
                    features: Callable, evaluate: Callable, mesh: jax.sharding.Mesh,
                    rules: sharding.Rules = sharding.DEFAULT_RULES) -> dict[str, Any]:
    """One pass over ``val_batches``: ``top1`` / ``top5`` (percent, ``[G]``), ``count``, ``bad``.

    Padded (``valid=False``) entries count nowhere, so every valid video is
    counted exactly once (over all processes); ``bad`` is the number of
    unreadable videos this process's batches reported.
    """
    totals, bad = None, 0
    for batch in val_batches:
        bad += len(batch.get('data_bad', ()))
        x = device_batch(batch, mesh, rules)
        counts = evaluate(state, features(encoder_params, x['clips']), x['label'], x['valid'])
        totals = counts if totals is None else jax.tree_util.tree_map(jnp.add, totals, counts)
    if totals is None:
        raise DataError('val_batches yielded no batch (an empty validation set?).')
    totals = jax.device_get(totals)
    count = int(totals['count'])
    scale = 100.0 / max(count, 1)
    return {'top1': totals['top1'] * scale, 'top5': totals['top5'] * scale, 'count': count,
            'bad': bad}


def _fmt(values: np.ndarray, spec: str) -> str:
    return ' '.join(format(float(v), spec) for v in np.ravel(values))


def train_probes(state: ProbeState, encoder_params: PyTree, train_batches: Iterator[Mapping],
                 val_batches: Iterable[Mapping], *, total_steps: int, steps_per_epoch: int,
                 fns: tuple[Callable, Callable, Callable], mesh: jax.sharding.Mesh,
                 rules: sharding.Rules = sharding.DEFAULT_RULES, start_step: int = 0,
                 log_every: int = 20, eval_every_epochs: int = 1,
                 on_log: Callable[[int, dict[str, np.ndarray]], None] | None = None,
                 on_eval: Callable[[int, dict[str, Any]], None] | None = None,
                 on_epoch_end: Callable[[int, ProbeState], None] | None = None,
                 monitor: BadInputMonitor | None = None
                 ) -> tuple[ProbeState, list[dict[str, Any]]]:
    """The probe loop from ``start_step`` to ``total_steps``: train, evaluate, report.

    ``fns``: ``jit_probe_fns``. ``on_log(step, metrics)`` gets host ``[G]``
    metrics every ``log_every`` steps and at the end; ``on_eval(step, result)``
    each evaluation (``evaluate_probes`` plus ``epoch`` and ``step``);
    ``on_epoch_end(step, state)`` after each epoch's evaluation (checkpoints).
    Evaluations run at the end of every ``eval_every_epochs``-th epoch and after
    the last step. Returns the final state and the evaluations of this call.
    """
    features, train, evaluate = fns
    monitor = monitor or BadInputMonitor()
    history: list[dict[str, Any]] = []
    with jax.set_mesh(mesh):
        for step in range(start_step, total_steps):
            try:
                batch = next(train_batches)
            except StopIteration:
                raise DataError(f'train_batches ended after {step} of {total_steps} steps; '
                                 'give an endless (repeating) training stream.') from None
            if 'data_bad' in batch:
                monitor.update(batch['data_attempts'], batch['data_bad'])
            x = device_batch(batch, mesh, rules)
            tokens = features(encoder_params, x['clips'])
            state, metrics = train(state, tokens, x['label'], x['valid'])
            done = step + 1
            last = done == total_steps
            if on_log is not None and (done % max(log_every, 1) == 0 or last):
                on_log(done, jax.device_get(metrics))
            epoch_end = done % steps_per_epoch == 0 or last
            epoch = -(-done // steps_per_epoch)
            if epoch_end and (last or (eval_every_epochs > 0 and epoch % eval_every_epochs == 0)):
                result = evaluate_probes(state, encoder_params, val_batches, features, evaluate,
                                         mesh, rules)
                result = {'epoch': epoch, 'step': done, **result}
                history.append(result)
                if on_eval is not None:
                    on_eval(done, result)
            if epoch_end and on_epoch_end is not None:
                on_epoch_end(done, state)
    return state, history


def summarize(history: list[dict[str, Any]], hparams: list[dict[str, float]]) -> dict[str, Any]:
    """``{'top1', 'top5', 'best', 'num_val', 'val_bad_videos'}`` of the last evaluation."""
    final = history[-1]
    best = int(np.argmax(final['top1']))
    return {'top1': np.asarray(final['top1']), 'top5': np.asarray(final['top5']),
            'hparams': hparams,
            'best': {'index': best, **hparams[best], 'top1': float(final['top1'][best]),
                     'top5': float(final['top5'][best])},
            'num_val': final['count'], 'val_bad_videos': final['bad']}


def eval_line(result: Mapping[str, Any], hparams: list[dict[str, float]]) -> str:
    """One readable line for an evaluation: every probe's top-1 and the best probe."""
    best = int(np.argmax(result['top1']))
    return (f'probe epoch {result["epoch"]} val top-1 {_fmt(result["top1"], ".2f")} | best '
            f'probe {best} {hparams[best]}: top-1 {result["top1"][best]:.2f} top-5 '
            f'{result["top5"][best]:.2f} ({result["count"]} videos, {result["bad"]} unreadable)')


def run_probe(encoder: flax.linen.Module, encoder_params: PyTree,
              train_batches: Iterable[Mapping], val_batches: Iterable[Mapping],
              num_classes: int, optimizer_config: ProbeOptimizerConfig | None = None,
              head: ProbeHeadConfig | None = None, *, steps_per_epoch: int,
              attend_across_segments: bool = True, seed: int = 0, log_every: int = 20,
              eval_every_epochs: int = 1, mesh: jax.sharding.Mesh | None = None,
              rules: sharding.Rules = sharding.DEFAULT_RULES,
              log: Callable[[str], None] = print) -> dict[str, Any]:
    """Trains the probe grid on frozen features computed on the fly, evaluating every epoch.

    In memory, no checkpoints (``evaluation.job.run_probe_job`` is the resumable
    command-line job).

    Args:
      encoder, encoder_params: the frozen ``VisionTransformer`` (its ``dtype`` is
        the feature dtype: bfloat16 on accelerators, float32 on CPU) and params.
      train_batches: process-local ``{'clips' uint8 [B, S, 1, T, H, W, 3], 'label',
        'valid'}`` batches (``input.probe_clips.training_dataset``); read
        ``num_epochs * steps_per_epoch`` times from one iterator.
      val_batches: a re-iterable of evaluation batches (``probe_clips.evaluation_dataset``).
      num_classes: classifier outputs.
      optimizer_config: the recipe and the ``(lr, weight_decay)`` grid (default:
        the official one, a single probe).
      head: the probe's depth and dtype (default: official, the encoder's dtype).
      steps_per_epoch: updates per epoch (schedules run over ``num_epochs`` of them).
      attend_across_segments: as the clips were made (``ProbeClipConfig``).
      seed: the probes' init.
      log_every, eval_every_epochs: progress lines every ``log_every`` steps;
        evaluations every ``eval_every_epochs`` epochs (0: after the last only).
      mesh: devices to use (default: the first device); the batch is split over its
        batch axes, the probe state replicated.
      rules: logical-axis rules for the encoder.
      log: progress lines (process 0 only).

    Returns:
      ``{'top1', 'top5'}`` float ``[G]`` percent of the last evaluation, ``'hparams'``
      (``[{'lr', 'weight_decay'}]``), ``'best'`` (index, hparams and scores of the
      probe with the highest top-1), ``'history'`` (every evaluation), ``'num_val'``,
      ``'val_bad_videos'`` and the final ``'state'``.
    """
    optimizer_config = optimizer_config or ProbeOptimizerConfig()
    head = head or ProbeHeadConfig()
    mesh = sharding.make_mesh(devices=jax.devices()[:1]) if mesh is None else mesh
    say = log if jax.process_index() == 0 else (lambda _: None)
    setup, state = probe_setup(encoder, num_classes, optimizer_config, head, steps_per_epoch,
                               mesh, attend_across_segments=attend_across_segments, seed=seed)
    if not _on_mesh(encoder_params, mesh):
        encoder_params = jax.device_put(encoder_params, sharding.replicated(mesh))
    hparams = [{'lr': lr, 'weight_decay': wd} for lr, wd in optimizer_config.grid]
    total = setup.schedules[0].total_steps
    if total < 1:
        raise ConfigError(f'num_epochs={optimizer_config.num_epochs} x steps_per_epoch='
                          f'{steps_per_epoch} gives no training step.')

    def on_log(step, m):
        say(f'probe step {step}/{total} epoch {-(-step // steps_per_epoch)} | loss '
            f'{_fmt(m["loss"], ".4f")} | train top-1 {_fmt(100 * m["top1"], ".1f")} | lr '
            f'{_fmt(m["lr"], ".2e")}')

    state, history = train_probes(
        state, encoder_params, iter(train_batches), val_batches, total_steps=total,
        steps_per_epoch=steps_per_epoch, fns=jit_probe_fns(encoder, setup, mesh, rules),
        mesh=mesh, rules=rules, log_every=log_every, eval_every_epochs=eval_every_epochs,
        on_log=on_log, on_eval=lambda step, result: say(eval_line(result, hparams)))
    return {**summarize(history, hparams), 'history': history, 'state': state}

"""Frozen-encoder attentive probes: a grid of probes trained on the same features in one pass.

Official recipe (``evals/video_classification_frozen/eval.py`` and the
``configs/evals/vit*_k400_16x8x3.yaml`` / ``*_ssv2_16x2x3.yaml`` files):

* probe: ``AttentiveClassifier`` with the encoder's width and heads, depth 1,
  MLP ratio 4, on the target encoder's tokens (frozen, no gradient);
* AdamW (torch defaults: betas 0.9 / 0.999, eps 1e-8) with the official
  groups (no decay on biases and 1-D params); lr 1e-3 (``start_lr`` 1e-3, no
  warmup) cosine to ``final_lr`` 0 over ``num_epochs * iterations_per_epoch``
  updates (no ``ipe_scale``); weight decay 0.01 cosine to 1e-6 (``init_opt``'s
  default ``final_wd``, which the eval never overrides); both schedulers step
  once before each update; gradient norm clipped to 1.0 every step;
* 20 epochs, batch 4 per GPU on 64 GPUs (global 256);
* loss: mean over the probe calls of each sample (``multiview``) of the
  cross-entropy; training sees one view of ``num_segments`` segments when
  attending across segments (one probe call), else one segment (one call).

The grid: every leaf of ``ProbeState.params`` has a leading ``[G]`` axis (one
slice per probe). The loss, gradient, clipping and AdamW update are vmapped
over it, so one encoder forward serves all probes and each probe's update is
exactly what it would be on its own. ``train_step`` / ``eval_step`` are pure;
``run_probe`` computes the features on the fly and drives them.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax

from vjepa_jax import sharding
from vjepa_jax.evaluation import multiview
from vjepa_jax.input.bad_input import BadInputMonitor
from vjepa_jax.models.attentive_probe import AttentiveClassifier
from vjepa_jax.train import optimizer
from vjepa_jax.train.schedules import Schedules

Array = jax.Array
PyTree = Any

OFFICIAL_MLP_RATIO = 4


@flax.struct.dataclass
class ProbeState:
    """``step`` int32 scalar; ``params`` and ``opt_state`` leaves ``[G, ...]`` (one row per probe).

    Adam's step count is shared: all probes take every step together.
    """

    step: Array
    params: PyTree
    opt_state: PyTree

    @property
    def num_probes(self) -> int:
        return int(jax.tree_util.tree_leaves(self.params)[0].shape[0])


def make_probe(num_classes: int, embed_dim: int, num_heads: int, depth: int = 1,
               dtype: Any = jnp.float32) -> AttentiveClassifier:
    """The official video probe: one query, depth 1, MLP ``4 * embed_dim``; float32 params."""
    return AttentiveClassifier(num_classes=num_classes, num_heads=num_heads,
                               mlp_dim=OFFICIAL_MLP_RATIO * embed_dim, depth=depth, dtype=dtype)


@dataclasses.dataclass(frozen=True)
class ProbeConfig:
    """Probe training recipe; the defaults are the official K400 / SSv2 ViT-L values.

    The grid is every ``(lr, weight_decay)`` of ``lrs x weight_decays``; each
    probe's start lr is ``start_lr_factor * lr`` (official ``start_lr == lr``).
    """

    num_epochs: float = 20
    lrs: tuple[float, ...] = (1e-3,)
    weight_decays: tuple[float, ...] = (0.01,)
    start_lr_factor: float = 1.0
    final_lr: float = 0.0
    final_weight_decay: float = 1e-6
    warmup_epochs: float = 0.0
    clip_grad: float | None = 1.0
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    attend_across_segments: bool = True
    depth: int = 1
    probe_dtype: Any = None       # None: the encoder's compute dtype
    seed: int = 0
    log_every: int = 20
    eval_every_epochs: int = 1    # 0: evaluate once, after the last epoch

    @property
    def grid(self) -> tuple[tuple[float, float], ...]:
        """``(lr, weight_decay)`` of every probe, lr-major."""
        return tuple(itertools.product(self.lrs, self.weight_decays))

    def schedules(self, steps_per_epoch: int) -> tuple[Schedules, ...]:
        if not self.grid:
            raise ValueError('The probe grid is empty: give at least one lr and weight decay.')
        return tuple(
            Schedules(steps_per_epoch=steps_per_epoch, num_epochs=self.num_epochs,
                      warmup_epochs=self.warmup_epochs, start_lr=self.start_lr_factor * lr,
                      lr=lr, final_lr=self.final_lr, weight_decay=wd,
                      final_weight_decay=self.final_weight_decay, ipe_scale=1.0,
                      clip_grad=None)
            for lr, wd in self.grid)


@dataclasses.dataclass(frozen=True)
class ProbeSetup:
    """Static description of the probe update: module, per-probe schedules, loss layout."""

    probe: AttentiveClassifier
    schedules: tuple[Schedules, ...]
    attend_across_segments: bool = True
    clip_grad: float | None = 1.0
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8

    @property
    def num_probes(self) -> int:
        return len(self.schedules)

    @property
    def adam(self) -> optax.GradientTransformation:
        return optimizer.make_adam(self.betas[0], self.betas[1], self.eps)

    def rates(self, step: Array | int) -> tuple[Array, Array]:
        """Learning rates and weight decays of every probe at ``step``: float32 ``[G]`` each."""
        lr = jnp.stack([s.learning_rate(step) for s in self.schedules])
        wd = jnp.stack([s.weight_decay_at(step) for s in self.schedules])
        return lr, wd


def setup_from_config(config: ProbeConfig, probe: AttentiveClassifier,
                      steps_per_epoch: int) -> ProbeSetup:
    return ProbeSetup(probe, config.schedules(steps_per_epoch), config.attend_across_segments,
                      config.clip_grad, tuple(config.betas), config.eps)


def init_probe_state(setup: ProbeSetup, embed_dim: int, seed: int = 0,
                     same_init: bool = True) -> ProbeState:
    """Fresh grid state. ``same_init``: every probe starts from the same params (as separate
    official runs with the same seed would), so they differ only by their hyperparameters."""
    # RngBitGenerator keys: the init compiles several times faster than with threefry on
    # CPU, and probe inits have no reference values to reproduce.
    return _init_state(setup, embed_dim, jax.random.key(seed, impl='rbg'), same_init)


@functools.partial(jax.jit, static_argnums=(0, 1, 3))  # one compilation per setup, not dozens
def _init_state(setup: ProbeSetup, embed_dim: int, key: Array, same_init: bool) -> ProbeState:
    dummy = jnp.zeros((1, 1, embed_dim), jnp.float32)

    def init(key):
        return flax.linen.meta.unbox(setup.probe.init(key, dummy)['params'])

    g = setup.num_probes
    if same_init:
        params = jax.tree_util.tree_map(lambda x: jnp.broadcast_to(x, (g, *x.shape)), init(key))
    else:
        params = jax.vmap(init)(jax.random.split(key, g))
    return ProbeState(step=jnp.zeros((), jnp.int32), params=params,
                      opt_state=setup.adam.init(params))


def _one_probe(tree: PyTree) -> PyTree:
    """The params of probe 0 (only for shapes: the decay mask reads each leaf's ndim)."""
    return jax.tree_util.tree_map(lambda x: x[0], tree)


def _masked_mean(x: Array, valid: Array) -> Array:
    """Mean of ``x [..., B]`` over valid entries (0 when none is)."""
    w = valid.astype(jnp.float32)
    return jnp.sum(x * w, axis=-1) / jnp.maximum(jnp.sum(w), 1.0)


def train_step(state: ProbeState, tokens: Array, labels: Array, valid: Array,
               setup: ProbeSetup) -> tuple[ProbeState, dict[str, Array]]:
    """One AdamW update of every probe in the grid.

    Args:
      state: the grid's state.
      tokens: frozen features ``[B, S, V, N, D]`` (``multiview.encode_clips``).
      labels: int ``[B]``.
      valid: bool ``[B]``; invalid samples add nothing to the loss.
      setup: static (module, schedules, ...).

    Returns:
      The new state and per-probe float32 ``[G]`` metrics: ``loss``, ``top1``
      (fraction of valid samples, from the averaged softmax), ``lr``, ``wd``,
      ``grad_norm`` (before clipping).
    """
    inputs = multiview.probe_inputs(tokens, setup.attend_across_segments)
    labels = labels.astype(jnp.int32)

    def loss_fn(params):
        logits = multiview.probe_logits(setup.probe, params, inputs)          # [B, P, C]
        ce = optax.softmax_cross_entropy_with_integer_labels(
            logits, jnp.broadcast_to(labels[:, None], logits.shape[:2]))       # [B, P]
        return _masked_mean(jnp.mean(ce, axis=1), valid), logits

    (loss, logits), grads = jax.vmap(jax.value_and_grad(loss_fn, has_aux=True))(state.params)
    if setup.clip_grad is not None:
        grads, grad_norm = jax.vmap(
            lambda g: optimizer.clip_by_norm(g, setup.clip_grad, True))(grads)
    else:
        grad_norm = jax.vmap(optimizer.global_norm)(grads)
    # Adam is elementwise, so one update over the stacked tree is G independent updates.
    direction, opt_state = setup.adam.update(grads, state.opt_state)
    lr, wd = setup.rates(state.step)
    mask = optimizer.weight_decay_mask(_one_probe(state.params))
    params = jax.vmap(lambda p, d, r, w: optimizer.apply_adamw(p, d, mask, r, w))(
        state.params, direction, lr, wd)
    probs = jax.vmap(multiview.aggregate_logits)(logits)                    # [G, B, C]
    top1 = _masked_mean((jnp.argmax(probs, axis=-1) == labels).astype(jnp.float32), valid)
    metrics = {'loss': loss, 'top1': top1, 'lr': lr, 'wd': wd, 'grad_norm': grad_norm}
    return state.replace(step=state.step + 1, params=params, opt_state=opt_state), metrics


def eval_step(state: ProbeState, tokens: Array, labels: Array, valid: Array,
              setup: ProbeSetup) -> dict[str, Array]:
    """Correct-prediction counts of every probe on one batch (padded entries excluded).

    Args: as ``train_step`` (``tokens [B, S, V, N, D]`` with all eval segments and views).

    Returns:
      int32 ``top1`` and ``top5`` ``[G]`` (top-k of the softmax averaged over the
      probe calls; ``k = min(5, C)``) and ``count`` (valid samples in the batch).
    """
    inputs = multiview.probe_inputs(tokens, setup.attend_across_segments)
    labels = labels.astype(jnp.int32)
    logits = jax.vmap(lambda p: multiview.probe_logits(setup.probe, p, inputs))(state.params)
    probs = jax.vmap(multiview.aggregate_logits)(logits)                    # [G, B, C]
    _, top = jax.lax.top_k(probs, min(5, probs.shape[-1]))                  # [G, B, k]
    hits = top == labels[:, None]
    ok = valid.astype(bool)
    return {'top1': jnp.sum(hits[..., 0] & ok, axis=-1).astype(jnp.int32),
            'top5': jnp.sum(jnp.any(hits, axis=-1) & ok, axis=-1).astype(jnp.int32),
            'count': jnp.sum(ok).astype(jnp.int32)}


# --------------------------------------------------------------------------------------
# End to end: features on the fly, the grid trained and evaluated
# --------------------------------------------------------------------------------------


def _device_batch(batch: Mapping[str, Any], mesh: jax.sharding.Mesh,
                  rules: sharding.Rules) -> dict[str, Array]:
    """Process-local ``{'clips', 'label', 'valid'}`` -> global arrays split over the batch axes."""
    label = np.asarray(batch['label']).astype(np.int32)  # no int64 on device without x64
    valid = np.asarray(batch['valid'], bool) if 'valid' in batch else np.ones(label.shape, bool)
    return sharding.host_to_global({'clips': np.asarray(batch['clips']), 'label': label,
                                    'valid': valid}, mesh, rules)


def _on_mesh(tree: PyTree, mesh: jax.sharding.Mesh) -> bool:
    return all(isinstance(x, jax.Array) and isinstance(x.sharding, jax.sharding.NamedSharding)
               and x.sharding.mesh == mesh for x in jax.tree_util.tree_leaves(tree))


def jit_probe_fns(encoder: flax.linen.Module, setup: ProbeSetup, mesh: jax.sharding.Mesh,
                  rules: sharding.Rules = sharding.DEFAULT_RULES
                  ) -> tuple[Callable, Callable, Callable]:
    """``(features, train, evaluate)``, each compiled once per input shape.

    ``features(encoder_params, clips) -> tokens`` keeps the batch split over the
    batch mesh axes; ``train(state, tokens, labels, valid)`` (state donated) and
    ``evaluate(state, tokens, labels, valid)`` return replicated results.
    """
    rep = sharding.replicated(mesh)

    def features(params, clips):
        with flax.linen.logical_axis_rules(rules):
            return multiview.encode_clips(encoder, params, clips)

    return (jax.jit(features, out_shardings=sharding.batch_sharding(mesh, rules)),
            jax.jit(functools.partial(train_step, setup=setup), out_shardings=(rep, rep),
                    donate_argnums=0),
            jax.jit(functools.partial(eval_step, setup=setup), out_shardings=rep))


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
        x = _device_batch(batch, mesh, rules)
        counts = evaluate(state, features(encoder_params, x['clips']), x['label'], x['valid'])
        totals = counts if totals is None else jax.tree_util.tree_map(jnp.add, totals, counts)
    if totals is None:
        raise ValueError('val_batches yielded no batch.')
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
                raise ValueError(f'train_batches ended after {step} of {total_steps} steps; '
                                 'give an endless (repeating) training stream.') from None
            if 'data_bad' in batch:
                monitor.update(batch['data_attempts'], batch['data_bad'])
            x = _device_batch(batch, mesh, rules)
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
              num_classes: int, config: ProbeConfig = ProbeConfig(), *, steps_per_epoch: int,
              mesh: jax.sharding.Mesh | None = None,
              rules: sharding.Rules = sharding.DEFAULT_RULES,
              log: Callable[[str], None] = print) -> dict[str, Any]:
    """Trains the probe grid on frozen features computed on the fly, evaluating every epoch.

    In memory, no checkpoints (``evaluation.job.run_probe_job`` is the resumable
    command-line job).

    Args:
      encoder, encoder_params: the frozen ``VisionTransformer`` (its ``dtype`` is
        the feature dtype: bfloat16 on accelerators, float32 on CPU) and params.
      train_batches: process-local ``{'clips' uint8 [B, S, 1, T, H, W, 3], 'label',
        'valid'}`` batches (``video_data.training_dataset``); read
        ``num_epochs * steps_per_epoch`` times from one iterator.
      val_batches: a re-iterable of evaluation batches (``video_data.evaluation_dataset``).
      num_classes: classifier outputs.
      config: the recipe and the ``(lr, weight_decay)`` grid.
      steps_per_epoch: updates per epoch (schedules run over ``num_epochs`` of them).
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
    mesh = sharding.make_mesh(devices=jax.devices()[:1]) if mesh is None else mesh
    say = log if jax.process_index() == 0 else (lambda _: None)
    setup, state = probe_setup(encoder, num_classes, config, steps_per_epoch, mesh)
    if not _on_mesh(encoder_params, mesh):
        encoder_params = jax.device_put(encoder_params, sharding.replicated(mesh))
    hparams = [{'lr': lr, 'weight_decay': wd} for lr, wd in config.grid]
    total = setup.schedules[0].total_steps
    if total < 1:
        raise ValueError(f'num_epochs={config.num_epochs} x steps_per_epoch={steps_per_epoch} '
                         'gives no training step.')

    def on_log(step, m):
        say(f'probe step {step}/{total} epoch {-(-step // steps_per_epoch)} | loss '
            f'{_fmt(m["loss"], ".4f")} | train top-1 {_fmt(100 * m["top1"], ".1f")} | lr '
            f'{_fmt(m["lr"], ".2e")}')

    state, history = train_probes(
        state, encoder_params, iter(train_batches), val_batches, total_steps=total,
        steps_per_epoch=steps_per_epoch, fns=jit_probe_fns(encoder, setup, mesh, rules),
        mesh=mesh, rules=rules, log_every=config.log_every,
        eval_every_epochs=config.eval_every_epochs, on_log=on_log,
        on_eval=lambda step, result: say(eval_line(result, hparams)))
    return {**summarize(history, hparams), 'history': history, 'state': state}


def probe_setup(encoder: flax.linen.Module, num_classes: int, config: ProbeConfig,
                steps_per_epoch: int, mesh: jax.sharding.Mesh) -> tuple[ProbeSetup, ProbeState]:
    """The grid's static setup and its fresh state, replicated over ``mesh``."""
    dtype = config.probe_dtype or encoder.dtype
    probe = make_probe(num_classes, encoder.embed_dim, encoder.num_heads, config.depth, dtype)
    setup = setup_from_config(config, probe, steps_per_epoch)
    state = jax.device_put(init_probe_state(setup, encoder.embed_dim, config.seed),
                           sharding.replicated(mesh))
    return setup, state

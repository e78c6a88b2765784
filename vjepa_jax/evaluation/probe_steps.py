"""The grid's pure steps: one AdamW update of every probe, and correct-prediction counts.

The loss, gradient, clipping and AdamW update are vmapped over the grid axis
``[G]``, so one encoder forward serves all probes and each probe's update is
exactly what it would be on its own. Loss (official ``run_one_epoch``): mean
over the probe calls of each sample (``multiview``) of the cross-entropy;
training sees one view of ``num_segments`` segments when attending across
segments (one probe call), else one segment (one call). ``jit_probe_fns``
compiles them with the frozen features for a mesh.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax

from vjepa_jax import sharding
from vjepa_jax.evaluation import multiview
from vjepa_jax.evaluation.probe_state import ProbeSetup, ProbeState
from vjepa_jax.train import optimizer

Array = jax.Array
PyTree = Any


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


def device_batch(batch: Mapping[str, Any], mesh: jax.sharding.Mesh,
                  rules: sharding.Rules) -> dict[str, Array]:
    """Process-local ``{'clips', 'label', 'valid'}`` -> global arrays split over the batch axes."""
    label = np.asarray(batch['label']).astype(np.int32)  # no int64 on device without x64
    valid = np.asarray(batch['valid'], bool) if 'valid' in batch else np.ones(label.shape, bool)
    return sharding.host_to_global({'clips': np.asarray(batch['clips']), 'label': label,
                                    'valid': valid}, mesh, rules)


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

"""The pretraining update: ``train_step(state, batch, setup) -> (state, metrics)``.

One step (DESIGN §4): normalise the uint8 clip on device; the target encoder
sees every token once, its output is layer-normed (no affine) and gathered at
each mask set's targets; the context encoder runs once per mask set on that
set's context tokens; the predictor fills in the targets with the set's mask
token; loss = mean over sets of the Lp latent loss over valid targets (+ the
optional variance regulariser); the optax chain of ``train/optimizer.py``
clips each model's gradients (official: only after warmup) and applies AdamW
with the scheduled lr / wd; then the target encoder moves towards the new
encoder with the scheduled momentum (``ema_update``).

``batch`` is ``{'video': [B, T, H, W, 3] uint8 (or normalised float),
'masks': ({'context_idx', 'context_valid', 'target_idx', 'target_valid'}, ...)}``
with one dict per mask set (int32 / bool ``[B, K]``, fixed ``K`` per set), or,
for V-JEPA 2's frames-per-clip groups, ``{'groups': (group_0, group_1, ...)}``
with one such dict per group (each its own ``B_g`` and ``T_g``; static, so one
compilation per group layout). The loss is then the mean over every (group,
mask set) pair, and the predictor's mask token is chosen by the group index
(V-JEPA 2) or by the mask set index (V-JEPA 1, one group only).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from vjepa_jax import sharding
from vjepa_jax.input.normalize import normalize_video
from vjepa_jax.masks.gather import gather_tokens
from vjepa_jax.models import Predictor, VisionTransformer
from vjepa_jax.models.vjepa2 import VJEPA2Predictor
from vjepa_jax.train import losses, optimizer
from vjepa_jax.train.optimizer import OptimizerConfig
from vjepa_jax.train.schedules import Schedules
from vjepa_jax.train.state import TrainState

Array = jax.Array
PyTree = Any
Batch = Mapping[str, Any]


@dataclasses.dataclass(frozen=True)
class StepSetup:
    """Static description of the update: modules, optimiser recipe, loss.

    ``optimizer``: an ``OptimizerConfig``; a bare ``Schedules`` means the
    official Adam constants.
    """

    encoder: VisionTransformer | Any  # or a VJEPA2Encoder
    predictor: Predictor | VJEPA2Predictor
    optimizer: OptimizerConfig
    loss: losses.LossConfig = losses.OFFICIAL_LOSS

    def __post_init__(self):
        if not isinstance(self.optimizer, OptimizerConfig):
            object.__setattr__(self, 'optimizer', OptimizerConfig(
                **dataclasses.asdict(self.optimizer)))

    @property
    def mask_token_per_group(self) -> bool:
        """V-JEPA 2 picks the mask token by frames-per-clip group, V-JEPA 1 by mask set."""
        return isinstance(self.predictor, VJEPA2Predictor)

    def mask_index(self, group: int, mask_set: int) -> int:
        return group if self.mask_token_per_group else mask_set

    @property
    def schedules(self) -> Schedules:
        return self.optimizer

    @property
    def tx(self) -> optax.GradientTransformationExtraArgs:
        """The optax chain (``optimizer.pretrain_optimizer``); ``update`` takes ``step=``."""
        return optimizer.pretrain_optimizer(self.optimizer)


def ema_update(target: PyTree, online: PyTree, weights: tuple[Array, Array]) -> PyTree:
    """``m * target + (1 - m) * online`` with ``weights = (m, 1 - m)`` (``Schedules.ema_weights``)."""
    momentum, rest = weights
    return jax.tree_util.tree_map(lambda t, p: momentum * t + rest * p, target, online)


def batch_groups(batch: Batch) -> tuple[Batch, ...]:
    """The batch's frames-per-clip groups: ``batch['groups']``, or the batch as one group."""
    return tuple(batch['groups']) if 'groups' in batch else (batch,)


def group_video(setup: StepSetup, group: Batch) -> Array:
    """A group's clips normalised on device (the batch contract above)."""
    video = group['video']
    return normalize_video(video, setup.encoder.dtype,
                           normalized=jnp.issubdtype(video.dtype, jnp.floating))


def used_mask_tokens(setup: StepSetup, num_groups: int, num_sets: int) -> tuple[int, ...]:
    """Rows of the predictor's ``mask_tokens`` that a batch of this layout trains."""
    n = setup.predictor.num_mask_tokens
    return tuple(sorted({setup.mask_index(g, m) % n
                         for g in range(num_groups) for m in range(num_sets)}))


def freeze_unused_mask_tokens(updates: Mapping[str, PyTree], used: Sequence[int]
                              ) -> dict[str, PyTree]:
    """``updates`` with the rows of unused mask tokens zeroed.

    The official mask tokens are separate parameters; one never indexed gets no
    gradient, hence no AdamW step and no weight decay. Ours are rows of one
    ``[n, D]`` array, whose unused rows would otherwise be decayed.
    """
    predictor = dict(updates['predictor'])
    tokens = predictor['mask_tokens']
    keep = jnp.zeros((tokens.shape[0], 1), tokens.dtype).at[jnp.asarray(used)].set(1)
    predictor['mask_tokens'] = tokens * keep
    return {**updates, 'predictor': predictor}


def target_features(setup: StepSetup, target_params: PyTree, video: Array,
                    masks: Sequence[Mapping[str, Array]]) -> list[Array]:
    """Layer-normed target-encoder features at each set's targets: ``[B, Kt_m, D]`` float32."""
    h = setup.encoder.apply({'params': target_params}, video)
    h = jax.lax.stop_gradient(losses.target_layer_norm(h))
    return [gather_tokens(h, m['target_idx']) for m in masks]


def predictions(setup: StepSetup, params: Mapping[str, PyTree], video: Array,
                masks: Sequence[Mapping[str, Array]], group: int = 0) -> list[Array]:
    """Context encoder + predictor per mask set of frames-per-clip group ``group``:
    ``[B, Kt_m, D]``."""
    out = []
    for i, m in enumerate(masks):
        z = setup.encoder.apply({'params': params['encoder']}, video, m['context_idx'],
                                m.get('context_valid'))
        out.append(setup.predictor.apply({'params': params['predictor']}, z, m['context_idx'],
                                         m['target_idx'], setup.mask_index(group, i),
                                         m.get('context_valid'), m.get('target_valid')))
    return out


def pair_names(num_groups: int, num_sets: int) -> list[str]:
    """Metric suffix of each (group, mask set) pair: ``set{m}`` with one group, else
    ``g{g}set{m}``."""
    if num_groups == 1:
        return [f'set{m}' for m in range(num_sets)]
    return [f'g{g}set{m}' for g in range(num_groups) for m in range(num_sets)]


def loss_terms(setup: StepSetup, preds: Sequence[Array], targets: Sequence[Array],
               masks: Sequence[Mapping[str, Array]],
               names: Sequence[str] | None = None) -> dict[str, Array]:
    """``loss``, ``loss_jepa``, ``loss_reg`` and ``loss/<name>`` per pair (float32 scalars).

    ``preds`` / ``targets`` / ``masks``: one entry per (group, mask set) pair;
    ``names`` their metric suffixes (default ``set{i}``).
    """
    valids = [m.get('target_valid') for m in masks]
    per_set = [losses.latent_loss(p, t, v, setup.loss.loss_exp)
               for p, t, v in zip(preds, targets, valids)]
    jepa = sum(per_set) / len(per_set)
    reg = losses.variance_regularizer(preds, valids)
    coeff = setup.loss.reg_coeff
    terms = {'loss': jepa + coeff * reg if coeff else jepa,
             'loss_jepa': jepa, 'loss_reg': reg}
    names = names or [f'set{i}' for i in range(len(per_set))]
    terms.update({f'loss/{n}': x for n, x in zip(names, per_set)})
    return terms


def _pairs(setup: StepSetup, params: Mapping[str, PyTree], videos: Sequence[Array],
           groups: Sequence[Batch], targets: Sequence[Sequence[Array]]
           ) -> tuple[list[Array], list[Array], list[Mapping[str, Array]]]:
    """Predictions, targets and masks of every (group, mask set) pair, flattened."""
    preds, flat_targets, flat_masks = [], [], []
    for g, (video, group, tgt) in enumerate(zip(videos, groups, targets)):
        preds += predictions(setup, params, video, tuple(group['masks']), g)
        flat_targets += list(tgt)
        flat_masks += list(group['masks'])
    return preds, flat_targets, flat_masks


def _inputs(setup: StepSetup, target_params: PyTree, batch: Batch
            ) -> tuple[tuple[Batch, ...], list[Array], list[list[Array]], list[str]]:
    """``(groups, normalised videos, target features, pair names)`` of a batch."""
    groups = batch_groups(batch)
    num_sets = len(groups[0]['masks'])
    if any(len(g['masks']) != num_sets for g in groups):
        raise ValueError('Every frames-per-clip group needs the same mask sets.')
    if len(groups) > 1 and not setup.mask_token_per_group:
        raise ValueError('Frames-per-clip groups are a V-JEPA 2 feature (model.family '
                         "'vjepa2'); a V-JEPA 1 batch has one group.")
    videos = [group_video(setup, g) for g in groups]
    targets = [target_features(setup, target_params, v, tuple(g['masks']))
               for v, g in zip(videos, groups)]
    return groups, videos, targets, pair_names(len(groups), num_sets)


def compute_loss(setup: StepSetup, params: Mapping[str, PyTree], target_params: PyTree,
                 batch: Batch) -> dict[str, Array]:
    """The step's loss terms without any update (for evaluation and parity checks)."""
    groups, videos, targets, names = _inputs(setup, target_params, batch)
    return loss_terms(setup, *_pairs(setup, params, videos, groups, targets), names)


def train_step(state: TrainState, batch: Batch, setup: StepSetup) -> tuple[TrainState, dict]:
    """One pretraining update; pure, so ``jax.jit`` it with ``setup`` bound."""
    sched = setup.schedules
    groups, videos, targets, names = _inputs(setup, state.target_encoder, batch)
    num_sets = len(groups[0]['masks'])

    def objective(params):
        terms = loss_terms(setup, *_pairs(setup, params, videos, groups, targets), names)
        return terms['loss'], terms

    grads, terms = jax.grad(objective, has_aux=True)(state.params)
    step = state.step
    # Norms before clipping, for the metrics (XLA shares them with the chain's clip).
    grad_norms = {name: optimizer.global_norm(g) for name, g in grads.items()}
    updates, opt_state = setup.tx.update(grads, state.opt_state, state.params, step=step)
    used = used_mask_tokens(setup, len(groups), num_sets)
    if len(used) < setup.predictor.num_mask_tokens:
        updates = freeze_unused_mask_tokens(updates, used)
    params = optax.apply_updates(state.params, updates)
    lr = sched.learning_rate(step)
    wd = sched.weight_decay_at(step)
    weights = sched.ema_weights(step)
    momentum = weights[0]
    target = ema_update(state.target_encoder, params['encoder'], weights)

    metrics = dict(terms)
    metrics.update({
        'lr': lr, 'weight_decay': wd, 'ema_momentum': momentum,
        'grad_norm/encoder': grad_norms['encoder'],
        'grad_norm/predictor': grad_norms['predictor'],
    })
    for g, group in enumerate(groups):
        prefix = f'g{g}' if len(groups) > 1 else ''
        for i, m in enumerate(group['masks']):
            for part in ('context', 'target'):
                valid = m.get(f'{part}_valid')
                count = (jnp.mean(jnp.sum(valid, axis=1).astype(jnp.float32))
                         if valid is not None
                         else jnp.asarray(m[f'{part}_idx'].shape[1], jnp.float32))
                metrics[f'tokens/{prefix}{part}{i}'] = count
    metrics = {k: jnp.asarray(v, jnp.float32) for k, v in metrics.items()}
    new_state = state.replace(step=step + 1, params=params, target_encoder=target,
                              opt_state=opt_state)
    return new_state, metrics


# Recently built steps by (setup, mesh, rules, shardings): a second run of the same
# program in one process (a resume, a cooldown, a notebook re-run) reuses the
# compiled executable instead of compiling it again.
_RECENT_STEPS: dict[Any, Any] = {}
_RECENT_LIMIT = 4


def jit_train_step(setup: StepSetup, mesh: jax.sharding.Mesh, rules: sharding.Rules,
                   state_shardings: PyTree):
    """``train_step`` compiled once for ``mesh``: explicit in/out shardings, state donated.

    The batch is split along its leading axis over the batch mesh axes
    (``sharding.host_to_global`` makes such arrays); metrics come back
    replicated. Returns ``run(state, batch) -> (state, metrics)``; the jitted
    function is ``run.jitted`` (for ``.lower`` / cost analysis). The same
    arguments again (equal setup, mesh, rules and shardings) return the same
    ``run``, so its compilations are shared.
    """
    leaves, treedef = jax.tree_util.tree_flatten(state_shardings)
    key = (setup, mesh, tuple(tuple(r) for r in rules), treedef, tuple(leaves))
    try:
        cached = _RECENT_STEPS.get(key)
    except TypeError:  # something unhashable: build without the cache
        key, cached = None, None
    if cached is not None:
        return cached
    run = _build_step(setup, mesh, rules, state_shardings)
    if key is not None:
        if len(_RECENT_STEPS) >= _RECENT_LIMIT:
            _RECENT_STEPS.pop(next(iter(_RECENT_STEPS)))
        _RECENT_STEPS[key] = run
    return run


def _build_step(setup: StepSetup, mesh: jax.sharding.Mesh, rules: sharding.Rules,
                state_shardings: PyTree):
    def step_with_rules(state, batch):
        with nn.logical_axis_rules(rules):
            return train_step(state, batch, setup)

    jitted = jax.jit(step_with_rules,
                     in_shardings=(state_shardings, sharding.batch_sharding(mesh, rules)),
                     out_shardings=(state_shardings, sharding.replicated(mesh)),
                     donate_argnums=0)

    def run(state: TrainState, batch: Batch) -> tuple[TrainState, dict]:
        with jax.set_mesh(mesh):
            return jitted(state, batch)

    run.jitted = jitted
    return run

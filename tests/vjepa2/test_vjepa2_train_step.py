"""The V-JEPA 2 pretraining step against the official one (../shared/fixtures/official_vjepa2_small).

The fixture's ``pretrain_latest.pt`` holds the weights *after* one official
step (AdamW step 1 from an empty state, two frames-per-clip groups, two mask
sets each) and the optimizer state of that step. Step 1 of AdamW is invertible:
``m = (1 - b1) g``, ``v = (1 - b2) g^2``, and

    p1 = p0 (1 - lr wd) - (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps)

so the weights *before* the step, and the EMA target before it
(``t1 = m t0 + (1 - m) e1``), are recovered in float64. From there our step must
reproduce the official loss, gradients, new weights, new target and post-step
loss, each within 1e-4.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import jax
import numpy as np
import optax
import pytest

from tests.helpers.paths import SHARED_FIXTURES
from vjepa_jax.convert import vjepa2_formats
from vjepa_jax.convert.torch_pickle import load_torch_checkpoint
from vjepa_jax.convert.vjepa2_official import adamw_moments
from vjepa_jax.models.vjepa2 import VJEPA2Encoder, VJEPA2Predictor
from vjepa_jax.train.optimizer import OptimizerConfig
from vjepa_jax.train.state import state_from_params
from vjepa_jax.train.step import StepSetup, compute_loss, train_step

TOL = 1e-4
FIXTURE = SHARED_FIXTURES / 'official_vjepa2_small'
pytestmark = pytest.mark.skipif(not (FIXTURE / 'fixture.npz').is_file(),
                                reason=f'official V-JEPA 2 fixture not found at {FIXTURE}')


@pytest.fixture(scope='module')
def official():
    """Everything the comparison needs, read once."""
    with np.load(FIXTURE / 'fixture.npz') as f:
        z = {k: f[k] for k in f.files}
    info = json.loads(str(z['config_json']))
    spec = info['spec']
    ckpt = load_torch_checkpoint(FIXTURE / 'pretrain_latest.pt')
    config, params, _ = vjepa2_formats.PRETRAINING_PT.read(
        Path(FIXTURE / 'pretrain_latest.pt'), num_heads=spec['encoder']['num_heads'],
        predictor_num_heads=spec['predictor']['num_heads'], img_size=spec['crop'],
        num_frames=max(g['fpc'] for g in spec['groups']))
    return z, info, spec, ckpt, config, params


def _moments(ckpt, config) -> dict[str, dict[str, dict]]:
    step, moments = adamw_moments(ckpt, config)
    assert step == 1
    return moments


def _undo_adamw(p1, m, v, decay, opt):
    lr, eps = opt['lr'], opt['eps']
    bc1, bc2 = 1 - opt['betas'][0], 1 - opt['betas'][1]
    p1, m, v = (np.asarray(x, np.float64) for x in (p1, m, v))
    p0 = p1 + (lr / bc1) * m / (np.sqrt(v) / np.sqrt(bc2) + eps)
    return (p0 / (1 - lr * opt['weight_decay']) if decay else p0).astype(np.float32)


def _decay_mask(tree):
    def decide(path, leaf):
        names = [str(getattr(k, 'key', k)) for k in path]
        return not any('bias' in n for n in names) and np.ndim(leaf) > 1
    return jax.tree_util.tree_map_with_path(decide, tree)


@pytest.fixture(scope='module')
def step_run(official):
    """(setup, pre-step state, batch, post-step state, metrics, moments) of our step."""
    z, _, spec, ckpt, config, params = official
    opt = spec['pretrain_opt']
    moments = _moments(ckpt, config)
    before = {}
    for name in ('encoder', 'predictor'):
        before[name] = jax.tree_util.tree_map(
            partial(_undo_adamw, opt=opt), params[name], moments['exp_avg'][name],
            moments['exp_avg_sq'][name], _decay_mask(params[name]))
    m = opt['ema'][0]
    target0 = jax.tree_util.tree_map(
        lambda t1, e1: ((np.float64(t1) - (1 - m) * np.float64(e1)) / m).astype(np.float32),
        params['target_encoder'], params['encoder'])
    optimizer = OptimizerConfig(
        steps_per_epoch=opt['ipe'], num_epochs=opt['epochs'], warmup_epochs=opt['warmup'],
        start_lr=opt['start_lr'], lr=opt['lr'], final_lr=opt['final_lr'],
        weight_decay=opt['weight_decay'], final_weight_decay=opt['final_weight_decay'],
        ema=tuple(opt['ema']), ipe_scale=opt['ipe_scale'], clip_grad=None,
        betas=tuple(opt['betas']), eps=opt['eps'])
    setup = StepSetup(VJEPA2Encoder(**config['encoder']), VJEPA2Predictor(**config['predictor']),
                      optimizer)
    groups = []
    for g in range(len(spec['groups'])):
        masks = tuple({'context_idx': z[f'masks_enc_g{g}_m{i}'].astype(np.int32),
                       'target_idx': z[f'masks_pred_g{g}_m{i}'].astype(np.int32)}
                      for i in range(len(spec['masks'])))
        groups.append({'video': z[f'video_g{g}'], 'masks': masks})
    batch = {'groups': tuple(groups)}
    state0 = state_from_params(before['encoder'], before['predictor'], target0,
                               optimizer=optimizer)
    state1, metrics = jax.jit(partial(train_step, setup=setup))(state0, batch)
    return setup, state0, batch, state1, metrics, moments


@pytest.fixture(scope='module')
def loss_and_grads(step_run):
    """``(params, target) -> (loss, grads)`` compiled once, used before and after the step."""
    setup, _, batch, *_ = step_run
    return jax.jit(jax.value_and_grad(
        lambda params, target: compute_loss(setup, params, target, batch)['loss']))


def _maxdiff(ours, ref) -> float:
    diffs = jax.tree_util.tree_map(lambda a, b: float(np.max(np.abs(np.asarray(a) - b))),
                                   ours, ref)
    return max(jax.tree_util.tree_leaves(diffs))


def _scaled_maxdiff(ours, ref) -> float:
    """Largest leaf's ``max |diff| / max(1, max |ref|)``: gradients reach ~20 (the mask
    token's, summed over every target), where float32 sums differ in the 6th digit."""
    diffs = jax.tree_util.tree_map(
        lambda a, b: float(np.max(np.abs(np.asarray(a) - b)) / max(1.0, np.max(np.abs(b)))),
        ours, ref)
    return max(jax.tree_util.tree_leaves(diffs))


def test_pre_step_loss_and_lr_match(official, step_run):
    _, info, *_ = official
    _, _, _, _, metrics, _ = step_run
    ref = info['pretrain']['train_step']
    assert abs(float(metrics['loss']) - ref['loss']) < TOL
    assert abs(float(metrics['lr']) - ref['lr']) < 1e-9
    assert abs(float(metrics['weight_decay']) - ref['wd']) < 1e-9
    assert abs(float(metrics['ema_momentum']) - ref['ema_momentum']) < 1e-7
    assert {'loss/g0set0', 'loss/g0set1', 'loss/g1set0', 'loss/g1set1'} <= set(metrics)


def test_gradients_match_the_official_first_moments(step_run, loss_and_grads):
    """After one step Adam's first moment is ``0.1 * grad``; the second is ``1e-3 * grad^2``."""
    _, state0, _, _, _, moments = step_run
    _, grads = loss_and_grads(state0.params, state0.target_encoder)
    official_grads = jax.tree_util.tree_map(lambda m: m / 0.1, moments['exp_avg'])
    assert _scaled_maxdiff(grads, official_grads) < TOL
    adam = next(s for s in jax.tree_util.tree_leaves(
        step_run[3].opt_state, is_leaf=lambda s: isinstance(s, optax.ScaleByAdamState))
        if isinstance(s, optax.ScaleByAdamState))
    assert int(adam.count) == 1
    assert _scaled_maxdiff(adam.mu, moments['exp_avg']) < TOL
    root_v = jax.tree_util.tree_map(lambda v: np.sqrt(np.asarray(v) / 1e-3), adam.nu)
    official_root_v = jax.tree_util.tree_map(lambda v: np.sqrt(v / 1e-3), moments['exp_avg_sq'])
    assert _scaled_maxdiff(root_v, official_root_v) < TOL


# Adam's first update is lr * g / (|g| + eps): where |g| is near eps (1e-8) its
# sensitivity lr * eps / (|g| + eps)^2 turns float32 gradient noise into
# weight differences up to lr. Those entries are compared against lr instead.
TINY_GRAD = 1e-7  # 10 eps


def _weights_diff(ours, ref, grads, lr: float) -> tuple[float, int, int]:
    """(max |diff| where |official grad| >= TINY_GRAD, entries below it, entries whose
    difference exceeds lr)."""
    worst, tiny, beyond = 0.0, 0, 0
    for a, b, g in zip(*(jax.tree_util.tree_leaves(t) for t in (ours, ref, grads))):
        d = np.abs(np.asarray(a) - b)
        small = np.abs(g) < TINY_GRAD
        worst = max(worst, float(np.max(d[~small], initial=0.0)))
        tiny += int(small.sum())
        beyond += int((d > lr).sum())
    return worst, tiny, beyond


def test_new_weights_target_and_post_step_loss_match(official, step_run, loss_and_grads):
    z, _, spec, _, _, params = official
    _, _, _, state1, _, moments = step_run
    lr = spec['pretrain_opt']['lr']
    official_grads = jax.tree_util.tree_map(lambda m: m / 0.1, moments['exp_avg'])
    for name in ('encoder', 'predictor'):
        worst, tiny, beyond = _weights_diff(state1.params[name], params[name],
                                            official_grads[name], lr)
        assert worst < TOL, name
        assert beyond == 0, name
        total = sum(np.size(x) for x in jax.tree_util.tree_leaves(params[name]))
        # Measured: 4 % of the encoder's entries and 8 % of the predictor's have such
        # gradients in this tiny random model; the optimizer itself is checked on all
        # of them below (test_optimizer_applied_to_official_gradients).
        assert tiny < 0.1 * total, (name, tiny, total)
    assert _maxdiff(state1.target_encoder, params['target_encoder']) < TOL
    loss, _ = loss_and_grads(state1.params, state1.target_encoder)
    assert abs(float(loss) - float(z['loss'])) < TOL


def test_only_the_groups_mask_tokens_move(official, step_run):
    """mask_index is the group index: tokens 0 and 1 train, 2 and 3 keep their zero init."""
    _, info, *_ = official
    state1 = step_run[3]
    tokens = np.asarray(state1.params['predictor']['mask_tokens'])
    assert [bool(np.any(t != 0)) for t in tokens] == info['pretrain']['mask_token_nonzero']



def test_optimizer_applied_to_official_gradients(official, step_run):
    """Our AdamW chain, given the official gradients, lands on the official weights
    everywhere (tiny-gradient entries included): the update arithmetic is the same."""
    *_, params = official
    setup, state0, *_, moments = step_run
    grads = jax.tree_util.tree_map(lambda m: np.float32(m / 0.1), moments['exp_avg'])
    updates, _ = setup.tx.update(grads, state0.opt_state, state0.params, step=state0.step)
    new = optax.apply_updates(state0.params, updates)
    for name in ('encoder', 'predictor'):
        assert _maxdiff(new[name], params[name]) < TOL, name

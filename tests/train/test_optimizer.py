"""Weight-decay groups, AdamW and clipping against the official (torch) behaviour."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from vjepa_jax.convert import official
from vjepa_jax.models.builder import build_jepa_models, model_config
from vjepa_jax.train import optimizer
from vjepa_jax.train.state import init_boxed_state


def _models(scan: bool):
    cfg = model_config(variant='w24d2h2/8', num_frames=4, crop_size=24, scan_layers=scan)
    cfg.predictor.update({'embed_dim': 12, 'depth': 3, 'num_mask_tokens': 3})
    return build_jepa_models(cfg)


@pytest.mark.parametrize('scan', [False, True])
def test_weight_decay_mask_is_the_official_grouping(scan):
    encoder, predictor = _models(scan)
    # The params' names and shapes decide the mask: the abstract state (no init run).
    params = jax.eval_shape(lambda: init_boxed_state(encoder, predictor, 0)).params
    params = jax.tree_util.tree_map(lambda x: np.zeros(getattr(x, 'value', x).shape, np.float32),
                                    params, is_leaf=lambda x: hasattr(x, 'value'))
    mask = optimizer.weight_decay_mask(params)
    # Export the mask as an official state dict: 1.0 where we decay.
    as_arrays = jax.tree_util.tree_map(lambda p, d: np.full(np.shape(p), float(d), np.float32),
                                       params, mask)
    enc_sd = official.state_dict_from_params(
        as_arrays['encoder'], official.ENCODER_KEYS, encoder.depth, 0, '',
        tables={'pos_embed': np.zeros((1, encoder.num_patches, encoder.embed_dim))})
    pred_sd = official.state_dict_from_params(
        as_arrays['predictor'], official.PREDICTOR_KEYS, predictor.depth,
        predictor.num_mask_tokens, '',
        tables={'predictor_pos_embed': np.zeros((1, 1, 1))})
    seen = set()
    for key, value in {**enc_sd, **pred_sd}.items():
        if 'pos_embed' in key:  # fixed tables: no gradient, no param of ours
            continue
        official_decays = not ('bias' in key or value.ndim == 1)
        assert np.all(value == float(official_decays)), key
        seen.add(official_decays)
    assert seen == {True, False}


torch = pytest.importorskip('torch', reason='torch cross-check (pip install torch)')


def test_adamw_and_clipping_match_torch():
    rng = np.random.default_rng(0)
    shapes = {'w': (5, 3), 'bias': (3,), 'scale': (3,), 'k': (2, 2, 3)}
    params = {k: rng.normal(size=s).astype(np.float32) for k, s in shapes.items()}
    decay = optimizer.weight_decay_mask(params)
    assert decay == {'w': True, 'bias': False, 'scale': False, 'k': True}
    tparams = {k: torch.nn.Parameter(torch.tensor(v)) for k, v in params.items()}
    groups = [{'params': [tparams[k] for k in params if decay[k]]},
              {'params': [tparams[k] for k in params if not decay[k]], 'weight_decay': 0.0}]
    topt = torch.optim.AdamW(groups, betas=(0.9, 0.999), eps=1e-8)
    adam = optimizer.make_adam()
    state = adam.init(params)
    ours = dict(params)
    for step, (lr, wd, clip) in enumerate([(1e-2, 0.05, False), (3e-3, 0.2, True),
                                           (5e-4, 0.4, True)]):
        grads = {k: (rng.normal(size=s) * (step + 1)).astype(np.float32)
                 for k, s in shapes.items()}
        for k, p in tparams.items():
            p.grad = torch.tensor(grads[k])
        tnorm = float(torch.nn.utils.clip_grad_norm_(list(tparams.values()), 1.0)) if clip else None
        clipped, norm = optimizer.clip_by_norm(grads, 1.0, clip)
        if clip:
            assert float(norm) == pytest.approx(tnorm, rel=1e-6)
            for k, p in tparams.items():
                np.testing.assert_allclose(np.asarray(clipped[k]), p.grad.numpy(), rtol=1e-6)
        for g in topt.param_groups:
            g['lr'] = lr
        topt.param_groups[0]['weight_decay'] = wd
        topt.step()
        direction, state = adam.update(clipped, state, ours)
        ours = optimizer.apply_adamw(ours, direction, decay, jnp.float32(lr), jnp.float32(wd))
        for k, p in tparams.items():
            np.testing.assert_allclose(np.asarray(ours[k]), p.detach().numpy(),
                                       rtol=1e-6, atol=1e-7)


def test_clipping_inactive_leaves_gradients_alone():
    grads = {'a': jnp.full((4,), 100.0)}
    same, norm = optimizer.clip_by_norm(grads, 1.0, jnp.bool_(False))
    np.testing.assert_array_equal(np.asarray(same['a']), 100.0)
    assert float(norm) == pytest.approx(200.0)


def test_pretrain_chain_matches_torch_with_per_model_clipping_after_warmup():
    # Warmup of 1 step inside epoch 0: clipping (each model by its own norm) from step 2.
    config = optimizer.OptimizerConfig(steps_per_epoch=2, num_epochs=2, warmup_epochs=0.5,
                                       start_lr=1e-3, lr=1e-2, final_lr=1e-4, weight_decay=0.05,
                                       final_weight_decay=0.4, clip_grad=1.0)
    assert config.clip_from_step == 2
    rng = np.random.default_rng(1)
    shapes = {'encoder': {'w': (4, 3), 'bias': (3,)}, 'predictor': {'w': (3, 2), 'scale': (2,)}}
    params = {m: {k: rng.normal(size=s).astype(np.float32) for k, s in d.items()}
              for m, d in shapes.items()}
    decay = optimizer.weight_decay_mask(params)
    tparams = {m: {k: torch.nn.Parameter(torch.tensor(v)) for k, v in d.items()}
               for m, d in params.items()}
    groups = []
    for m, model in tparams.items():
        groups.append({'params': [p for k, p in model.items() if decay[m][k]]})
        groups.append({'params': [p for k, p in model.items() if not decay[m][k]],
                       'weight_decay': 0.0})
    topt = torch.optim.AdamW(groups, betas=config.betas, eps=config.eps)
    tx = optimizer.pretrain_optimizer(config)
    state = tx.init(params)
    ours = params
    for step in range(4):
        grads = {m: {k: (rng.normal(size=s) * 3).astype(np.float32) for k, s in d.items()}
                 for m, d in shapes.items()}
        for m, d in tparams.items():
            for k, p in d.items():
                p.grad = torch.tensor(grads[m][k])
        norms = {m: float(torch.nn.utils.clip_grad_norm_(list(d.values()), config.clip_grad))
                 for m, d in tparams.items()} if step >= config.clip_from_step else None
        assert norms is None or all(n > config.clip_grad for n in norms.values())
        for i, g in enumerate(topt.param_groups):
            g['lr'] = float(config.learning_rate(step))
            if i % 2 == 0:
                g['weight_decay'] = float(config.weight_decay_at(step))
        topt.step()
        updates, state = tx.update(grads, state, ours, step=jnp.int32(step))
        ours = optax.apply_updates(ours, updates)
        # torch orders AdamW's float32 operations differently: agreement to
        # 1e-4 of one step (lr ~1e-2 here).
        for m, d in tparams.items():
            for k, p in d.items():
                np.testing.assert_allclose(np.asarray(ours[m][k]), p.detach().numpy(),
                                           rtol=1e-6, atol=1e-6, err_msg=f'{m}/{k} step {step}')

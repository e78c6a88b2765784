"""Probe grid: learning, independence of the probes, one compilation, exact eval counts, e2e."""

from __future__ import annotations

from pathlib import Path

import av
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vjepa_jax import sharding
from vjepa_jax.errors import ConfigError
from vjepa_jax.evaluation import (
    multiview,
    probe_loop,
    probe_recipe,
    probe_state,
    probe_steps,
)
from vjepa_jax.input import probe_clips
from vjepa_jax.models import VisionTransformer
from vjepa_jax.models.vjepa2 import VJEPA2AttentiveClassifier, VJEPA2Encoder

B, S, V, N, D, C = 16, 2, 1, 3, 8, 4


LRS = (1e-2, 1e-4, 1e-2)  # probes 0 and 2 share their hyperparameters


def _setup(lrs=LRS, wds=(0.01,), steps_per_epoch=20, attend=True):
    config = probe_recipe.ProbeOptimizerConfig(num_epochs=2, lrs=tuple(lrs),
                                               weight_decays=tuple(wds))
    module = probe_recipe.make_probe(C, D, num_heads=2)
    return config, probe_state.make_setup(config, module, steps_per_epoch, attend)


# Module level, so that tests with equal setups and shapes share compilations.
STEP = jax.jit(probe_steps.train_step, static_argnames='setup')
EVAL = jax.jit(probe_steps.eval_step, static_argnames='setup')


def _labelled_tokens(seed: int, batch: int = B, views: int = V):
    """Tokens that carry the label: class embedding + noise. ``[batch, S, views, N, D]``."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, C, batch)
    classes = np.random.default_rng(99).normal(size=(C, D)).astype(np.float32)
    tokens = classes[labels][:, None, None, None, :] + 0.3 * rng.normal(
        size=(batch, S, views, N, D)).astype(np.float32)
    return jnp.asarray(tokens), jnp.asarray(labels, jnp.int32)


def test_official_recipe_schedules():
    config, setup = _setup([1e-3], steps_per_epoch=10)
    assert config.grid == ((1e-3, 0.01),)
    lr, wd = setup.rates(0)  # schedulers step before each update: position 1 of 20
    np.testing.assert_allclose(lr, [1e-3 * 0.5 * (1 + np.cos(np.pi / 20))], rtol=1e-6)
    np.testing.assert_allclose(wd, [1e-6 + (0.01 - 1e-6) * 0.5 * (1 + np.cos(np.pi / 20))],
                               rtol=1e-6)
    lr, wd = setup.rates(19)
    np.testing.assert_allclose([lr[0], wd[0]], [0.0, 1e-6], atol=1e-12)
    assert probe_recipe.make_probe(C, 12, 3).mlp_dim == 48
    assert len(probe_recipe.ProbeOptimizerConfig(lrs=(1e-3, 3e-3),
                                                  weight_decays=(0.01, 0.1, 1.0)).grid) == 6


def test_probe_learns_labelled_features_with_one_compilation():
    _, setup = _setup()  # 2 epochs x 20 steps: 40 steps are the whole schedule
    state = probe_state.init_probe_state(setup, D)
    data = [_labelled_tokens(i) for i in range(5)]
    valid = jnp.ones((B,), bool)
    state, _ = STEP(state, *data[0], valid, setup=setup)  # compiles here
    compiles = []

    def listener(event, duration, **_):
        if event == '/jax/core/compile/backend_compile_duration':
            compiles.append(event)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        for i in range(1, 40):
            state, metrics = STEP(state, *data[i % 5], valid, setup=setup)
        jax.block_until_ready(metrics)
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    assert compiles == [] and int(state.step) == 40
    loss = np.asarray(metrics['loss'])
    assert loss.shape == (3,) and loss[0] < 0.3 and loss[1] > 1.0  # the tiny lr learns far less
    tokens, labels = _labelled_tokens(123, views=3)  # unseen samples, 3 views
    counts = jax.device_get(EVAL(state, tokens, labels, valid, setup=setup))
    assert counts['count'] == B and counts['top1'][0] == counts['top1'][2] == B


def test_vjepa2_probe_head_is_built_from_the_config_and_learns():
    encoder = VJEPA2Encoder(embed_dim=32, depth=1, num_heads=2, mlp_dim=64)
    head = probe_recipe.ProbeHeadConfig(depth=2, kind='vjepa2')
    probe = probe_recipe.probe_for(head, C, encoder)
    assert isinstance(probe, VJEPA2AttentiveClassifier)
    assert (probe.num_heads, probe.depth, probe.mlp_dim) == (16, 2, 128)  # not the encoder's 2
    assert probe_recipe.probe_for(probe_recipe.ProbeHeadConfig(), C, encoder).num_heads == 2
    assert probe_recipe.ProbeHeadConfig(kind='v3', num_heads=0).problems() == [
        "kind 'v3' is not one of ['vjepa1', 'vjepa2'].",
        'num_heads must be >= 1 (or None: the default), got 0.']
    with pytest.raises(ConfigError, match='probe.num_heads 5'):
        probe_recipe.probe_for(probe_recipe.ProbeHeadConfig(kind='vjepa2', num_heads=5), C,
                               encoder)
    # On the probe job's train step: self-attention blocks, then the query, learn the labels.
    module = probe_recipe.make_probe(C, D, num_heads=2, depth=2, kind='vjepa2')
    config = probe_recipe.ProbeOptimizerConfig(num_epochs=2, lrs=(1e-2,), weight_decays=(0.01,))
    setup = probe_state.make_setup(config, module, 20, True)
    state = probe_state.init_probe_state(setup, D)
    valid = jnp.ones((B,), bool)
    for i in range(40):
        state, metrics = STEP(state, *_labelled_tokens(i % 5), valid, setup=setup)
    assert float(metrics['loss'][0]) < 0.3


def test_grid_probes_train_independently():
    _, setup = _setup()
    base = probe_state.init_probe_state(setup, D)
    other = probe_state.init_probe_state(setup, D, seed=1, same_init=False)
    # Same start except probe 1, which starts elsewhere: probes 0 and 2 must not notice.
    mixed = base.replace(params=jax.jit(lambda x, y: jax.tree_util.tree_map(
        lambda a, b: a.at[1].set(b[1]), x, y))(base.params, other.params))
    valid = jnp.ones((B,), bool)
    for i in range(3):
        tokens, labels = _labelled_tokens(i)
        base, metrics = STEP(base, tokens, labels, valid, setup=setup)
        mixed, _ = STEP(mixed, tokens, labels, valid, setup=setup)
    np.testing.assert_allclose(np.asarray(metrics['lr']) / np.asarray(LRS), 0.99, rtol=0.01)
    leaves = [tuple(map(np.asarray, pair)) for pair in zip(
        jax.tree_util.tree_leaves(base.params), jax.tree_util.tree_leaves(mixed.params))]
    for b, m in leaves:
        np.testing.assert_array_equal(b[0], b[2])  # same hyperparameters, same params
        np.testing.assert_allclose(m[[0, 2]], b[[0, 2]], rtol=1e-6, atol=1e-7)  # no cross-talk
    assert any(not np.allclose(b[0], b[1]) for b, _ in leaves)  # other lr, other params
    assert any(not np.allclose(b[1], m[1]) for b, m in leaves)


def test_eval_counts_each_valid_example_once():
    _, setup = _setup()
    state = probe_state.init_probe_state(setup, D, seed=3, same_init=False)
    tokens, labels = _labelled_tokens(7, views=3)
    valid = jnp.asarray(np.arange(B) % 3 != 0)  # 10 valid, 6 padded
    counts = jax.device_get(EVAL(state, tokens, labels, valid, setup=setup))

    @jax.jit
    def probabilities(params):
        inputs = multiview.probe_inputs(tokens, True)
        return jax.vmap(lambda p: multiview.aggregate_logits(
            multiview.probe_logits(setup.probe, p, inputs)))(params)

    probs = np.asarray(probabilities(state.params))
    ok, labels = np.asarray(valid), np.asarray(labels)
    order = np.argsort(-probs, axis=-1)
    assert counts['count'] == 10
    np.testing.assert_array_equal(counts['top1'], ((order[..., 0] == labels) & ok).sum(-1))
    np.testing.assert_array_equal(
        counts['top5'], ((order[..., :4] == labels[:, None]).any(-1) & ok).sum(-1))
    assert list(counts['top5']) == [10, 10, 10]  # 4 classes: top-5 is everything


def _write(path: Path, label: int, frames: int = 12) -> Path:
    colour = np.asarray([[230, 20, 20], [20, 20, 230]][label], np.uint8)
    rng = np.random.default_rng(len(str(path)) + label)
    with av.open(str(path), 'w') as out:
        stream = out.add_stream('libx264', rate=8)
        stream.width, stream.height = 24, 16
        stream.pix_fmt = 'yuv420p'
        for _ in range(frames):
            image = np.clip(colour + rng.integers(-20, 20, (16, 24, 3)), 0, 255).astype(np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format='rgb24')))
        out.mux(stream.encode())
    return path


@pytest.fixture(scope='module')
def colour_videos(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp('colour_videos')
    train = [f'{_write(root / f"t{i}.mp4", i % 2)} {i % 2}' for i in range(16)]
    val = [f'{_write(root / f"v{i}.mp4", i % 2)} {i % 2}' for i in range(9)]
    (root / 'broken.mp4').write_bytes(b'not a video')
    (root / 'train.csv').write_text('\n'.join(train) + '\n')
    (root / 'val.csv').write_text('\n'.join(val + [f'{root / "broken.mp4"} 0']) + '\n')
    return {'train': root / 'train.csv', 'val': root / 'val.csv'}


@pytest.mark.integration  # a whole probe run
def test_run_probe_end_to_end_on_eight_devices(colour_videos):
    clip = probe_clips.ProbeClipConfig(frames_per_clip=4, frame_step=1, num_segments=2,
                                       num_views_per_segment=2, crop_size=16,
                                       auto_augment=False, reprob=0.0)
    encoder = VisionTransformer(img_size=16, num_frames=4, patch_size=8, tubelet_size=2,
                                embed_dim=16, depth=1, num_heads=2, mlp_dim=32)
    params = jax.jit(encoder.init)(jax.random.key(0, impl='rbg'), jnp.zeros((1, 4, 16, 16, 3)))['params']
    mesh = sharding.make_mesh()
    assert mesh.size == 8
    batch = 8
    train = probe_clips.to_iterator(probe_clips.training_dataset(colour_videos['train'], batch,
                                                                 clip, seed=0))
    val = probe_clips.evaluation_dataset(colour_videos['val'], batch, clip)
    config = probe_recipe.ProbeOptimizerConfig(num_epochs=3, lrs=(3e-2, 1e-4))
    spe = probe_clips.steps_per_epoch(16, batch)
    lines = []
    result = probe_loop.run_probe(encoder, params, train, val, 2, config, steps_per_epoch=spe,
                                  attend_across_segments=clip.attend_across_segments,
                                  log_every=2, eval_every_epochs=2, mesh=mesh,
                                  log=lines.append)
    # Evaluated after epoch 2 and after the last one.
    assert result['top1'].shape == (2,) and [h['epoch'] for h in result['history']] == [2, 3]
    assert result['num_val'] == 9 and result['val_bad_videos'] == 1
    assert result['best']['lr'] == 3e-2 and result['best']['top1'] == 100.0
    assert int(result['state'].step) == 3 * spe
    assert any(line.startswith('probe step 2/6') for line in lines)
    assert sum('val top-1' in line for line in lines) == 2

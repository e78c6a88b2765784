"""``vjepa_jax.load``: every checkpoint format, steps, provenance, ``encode`` and ``preprocess``."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import vjepa_jax
from tests.helpers.checkpoints import (
    assert_tree_equal,
    official_file,
    write_train_workdir,
)
from tests.helpers.official_fixture import load as load_fixture
from tests.helpers.paths import VARIANTS
from vjepa_jax import checkpointing
from vjepa_jax.errors import CheckpointError, ConfigError
from vjepa_jax.input.normalize import normalize_video
from vjepa_jax.input.transforms import eval_transform
from vjepa_jax.loading import (
    READERS,
    CheckpointNotFoundError,
    LoadedModel,
    NormalizedClips,
    Provenance,
    Reader,
    register_reader,
)


@pytest.fixture(scope='module')
def workdir(tmp_path_factory):
    root = tmp_path_factory.mktemp('run')
    return root, write_train_workdir(root)


@pytest.fixture(scope='module')
def tiny(workdir):
    return vjepa_jax.load(workdir[0])


def _clips(seed: int = 0, batch: int = 2) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (batch, 4, 24, 24, 3), np.uint8)


def test_official_file_with_provenance():
    path = official_file()
    model = vjepa_jax.load(path, num_heads=4, img_size=None)
    assert isinstance(model, LoadedModel) and model.kind == 'pretraining'
    assert set(model.params) == {'encoder', 'target_encoder', 'predictor'}
    assert model.encoder.embed_dim == 104 and model.predictor is not None
    p = model.provenance
    assert (p.format, p.path, p.step, p.which) == ('official_vjepa', str(path), None,
                                                   'target_encoder')
    assert any('num_frames=16 assumed' in n for n in p.notes), p.notes
    assert any('num_heads=4' in n for n in p.notes), p.notes
    assert model.encoder_params is model.params['target_encoder']
    assert p.metadata == model.metadata and 'epoch' in p.metadata
    online = vjepa_jax.load(path, which='encoder', num_heads=4)
    assert online.which == 'encoder' and online.encoder_params is online.params['encoder']
    with pytest.raises(CheckpointError, match='step= applies to training workdirs'):
        vjepa_jax.load(path, step=1, num_heads=4)
    with pytest.raises(CheckpointError, match='unknown import option'):
        vjepa_jax.load(path, num_head=4)


def test_official_classifier_has_no_encoder():
    path = VARIANTS / 'base_like' / 'classifier.pth.tar'
    if not path.is_file():
        pytest.skip('official variant fixtures absent')
    model = vjepa_jax.load(path, num_heads=load_fixture(path.parent).classifier_heads)
    assert model.kind == 'classifier' and model.encoder is None
    assert model.classifier is not None and model.which is None
    with pytest.raises(CheckpointError, match='classifier checkpoint without an encoder'):
        model.encode(np.zeros((1, 16, 16, 16, 3), np.uint8))


def test_converted_directory(workdir, tmp_path, tiny):
    _, states = workdir
    online = jax.tree_util.tree_map(np.asarray, states[3].params['encoder'])
    enc_cfg = {k: v for k, v in tiny.config['encoder'].items() if k != 'dtype'}
    directory = checkpointing.save_model_checkpoint(
        tmp_path / 'converted', 'pretraining', {'encoder': enc_cfg},
        {'encoder': online, 'target_encoder': tiny.encoder_params}, metadata={'epoch': 7})
    model = vjepa_jax.load(directory)
    assert model.provenance.format == 'converted' and model.provenance.step is None
    assert model.metadata == {'epoch': 7} and model.encoder == tiny.encoder
    assert_tree_equal(model.encoder_params, tiny.encoder_params)
    assert_tree_equal(vjepa_jax.load(directory, which='encoder').encoder_params, online)
    with pytest.raises(CheckpointError, match='step= applies to training workdirs'):
        vjepa_jax.load(directory, step=3)
    # A directory without a target encoder: which=None falls back to the encoder.
    only_online = checkpointing.save_model_checkpoint(
        tmp_path / 'online', 'pretraining', {'encoder': enc_cfg}, {'encoder': online})
    assert vjepa_jax.load(only_online).which == 'encoder'
    with pytest.raises(CheckpointError, match="no 'target_encoder'; it has encoder"):
        vjepa_jax.load(only_online, which='target_encoder')


def test_training_workdir_latest_and_given_step(workdir, tiny):
    root, states = workdir
    p = tiny.provenance
    assert (p.format, p.step, p.which) == ('train_workdir', 3, 'target_encoder')
    assert p.path == str(root.absolute() / 'checkpoints' / '3')
    assert any('steps 1, 3' in n for n in p.notes), p.notes
    assert set(tiny.params) == {'target_encoder'}          # only what encode needs was read
    assert_tree_equal(tiny.encoder_params, states[3].target_encoder)
    first = vjepa_jax.load(root, step=1)
    assert first.provenance.step == 1
    assert_tree_equal(first.encoder_params, states[1].target_encoder)
    # The step of a step directory, and step= overriding it.
    assert vjepa_jax.load(root / 'checkpoints' / '1').provenance.step == 1
    assert vjepa_jax.load(root / 'checkpoints' / '1', step=3).provenance.step == 3
    with pytest.raises(CheckpointError, match=r'no finished step 2; it has steps 1, 3'):
        vjepa_jax.load(root, step=2)
    full = vjepa_jax.load(root, all_params=True)
    assert set(full.params) == {'target_encoder', 'encoder', 'predictor'}
    assert_tree_equal(full.params['predictor'], states[3].params['predictor'])
    assert full.predictor is not None and full.config['model']['variant']


def test_encode_normalises_uint8_and_refuses_unmarked_floats(tiny):
    clips = _clips(batch=1)   # one batch shape throughout: each path compiles once
    tokens = tiny.encode(clips)
    assert tokens.shape == (1, 18, 20)
    # uint8 is normalised inside: the same tokens as the normalised floats, passed as such
    # (normalize_video's values are checked below).
    floats = normalize_video(clips)
    np.testing.assert_allclose(np.asarray(tiny.encode(floats, normalized=True)),
                               np.asarray(tokens), rtol=1e-5, atol=1e-5)
    assert not np.allclose(np.asarray(tokens), np.asarray(
        tiny.encode(clips.astype(np.float32) / 255, normalized=True)), atol=1e-3)
    # One clip [T, H, W, 3] is a batch of one.
    np.testing.assert_array_equal(np.asarray(tiny.encode(clips[0])), np.asarray(tokens))
    with pytest.raises(ConfigError, match='normalized=True'):
        tiny.encode(floats)
    with pytest.raises(ConfigError, match='normalized=True'):
        tiny.encode(clips.astype(np.float32))     # 0..255 floats: the silent mistake of old
    with pytest.raises(ConfigError, match='tubelets'):
        tiny.encode(clips[:, :3])
    with pytest.raises(ConfigError, match=r'\[B, T, H, W, 3\]'):
        tiny.encode(np.zeros((4, 24, 24), np.uint8))


def test_preprocess_is_the_official_eval_transform(tiny):
    frames = np.random.default_rng(1).integers(0, 256, (4, 30, 40, 3), np.uint8)
    prepared = tiny.preprocess(frames)
    assert isinstance(prepared, NormalizedClips) and prepared.video.shape == (1, 4, 24, 24, 3)
    expected = normalize_video(eval_transform(frames, 24, 1))
    np.testing.assert_allclose(np.asarray(prepared.video), np.asarray(expected), atol=1e-6)
    tokens = tiny.encode(prepared)
    np.testing.assert_allclose(np.asarray(tokens),
                               np.asarray(tiny.encode(eval_transform(frames, 24, 1))),
                               rtol=1e-5, atol=1e-5)
    batch = tiny.preprocess(np.stack([frames, frames]))
    assert batch.video.shape == (2, 4, 24, 24, 3)
    # A pytree: it crosses jit.
    assert jax.jit(lambda c: c.video.sum())(prepared).shape == ()
    with pytest.raises(ConfigError, match='this model takes 4'):
        tiny.preprocess(frames[:2])
    with pytest.raises(ConfigError, match='uint8 RGB'):
        tiny.preprocess(frames.astype(np.float32))


def test_normalize_video_cannot_pass_unnormalised_floats():
    clip = np.full((1, 2, 2, 3), 255, np.uint8)
    out = np.asarray(normalize_video(clip))
    np.testing.assert_allclose(out[0, 0, 0], (1 - np.array([0.485, 0.456, 0.406]))
                               / np.array([0.229, 0.224, 0.225]), rtol=1e-6)
    with pytest.raises(ConfigError, match='normalized=True'):
        normalize_video(clip.astype(np.float32))
    assert normalize_video(out, normalized=True).dtype == np.float32
    with pytest.raises(ConfigError, match='drop normalized=True'):
        normalize_video(clip, normalized=True)
    with pytest.raises(ConfigError, match='int32'):
        normalize_video(clip.astype(np.int32))
    # Inside jit the check is on the (static) dtype.
    with pytest.raises(ConfigError):
        jax.jit(normalize_video)(clip.astype(np.float32))


def test_errors_name_the_path_and_the_formats(tmp_path, workdir):
    with pytest.raises(CheckpointNotFoundError, match='No checkpoint at .*missing'):
        vjepa_jax.load(tmp_path / 'missing')
    assert issubclass(CheckpointNotFoundError, FileNotFoundError)
    (tmp_path / 'plain').mkdir()
    with pytest.raises(CheckpointError, match='plain is not a checkpoint.*converted model '
                                              'directory.*training workdir.*official'):
        vjepa_jax.load(tmp_path / 'plain')
    with pytest.raises(CheckpointError, match='which='):
        vjepa_jax.load(workdir[0], which='predictor')
    (tmp_path / 'not_a_checkpoint.pth.tar').write_bytes(b'hello')
    with pytest.raises(CheckpointError, match='not a zip archive'):
        vjepa_jax.load(tmp_path / 'not_a_checkpoint.pth.tar')


def test_a_registered_reader_is_asked_first(tmp_path, tiny):
    marker = 'weights.custom'

    def read(request):
        return LoadedModel('pretraining', tiny.config, tiny.params,
                           Provenance(str(request.path), 'custom', which=request.which),
                           encoder=tiny.encoder)

    reader = Reader('custom', 'a custom directory', lambda p: (p / marker).is_file(), read)
    (tmp_path / marker).write_text('')
    register_reader(reader, before='official_vjepa')
    try:
        assert [r.name for r in READERS][-2:] == ['custom', 'official_vjepa']
        model = vjepa_jax.load(tmp_path)
        assert model.provenance.format == 'custom' and model.which == 'target_encoder'
        register_reader(reader)                      # same name: replaced, not added
        assert [r.name for r in READERS].count('custom') == 1
        with pytest.raises(ConfigError, match='no reader named'):
            register_reader(Reader('other', '', bool, read), before='nope')
    finally:
        READERS[:] = [r for r in READERS if r.name != 'custom']


def test_init_from_another_run_reads_every_tree(workdir):
    from vjepa_jax.train.init_from import load_init_params

    root, states = workdir
    fresh = jax.tree_util.tree_map(np.zeros_like, states[1])
    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    shardings = jax.tree_util.tree_map(lambda _: device, fresh)
    state = load_init_params(root, fresh, shardings)
    assert_tree_equal(state.params['encoder'], states[3].params['encoder'])
    assert_tree_equal(state.params['predictor'], states[3].params['predictor'])
    assert_tree_equal(state.target_encoder, states[3].target_encoder)
    assert_tree_equal(state.opt_state, fresh.opt_state)          # the optimiser starts fresh

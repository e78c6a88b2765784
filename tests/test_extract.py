"""Feature extraction: equals encoder.apply on the same clips, compiles once, skips bad files."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

import vjepa_jax
from tests.helpers.checkpoints import official_file, write_train_workdir, write_video
from tests.helpers.exit_status import exit_status
from vjepa_jax.input.normalize import normalize_video
from vjepa_jax.tools.extract import main
from vjepa_jax.tools.feature_extraction import extract_features
from vjepa_jax.tools.video_files import VideoListError, list_videos, load_clip

FRAMES, STEP = 4, 2          # the tiny model's clip: 4 frames x 24 px -> grid (2, 3, 3)
GRID, TOKENS, WIDTH = (2, 3, 3), 18, 20


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp('run')
    write_train_workdir(root, steps=(2,))
    return root


@pytest.fixture(scope='module')
def videos(tmp_path_factory):
    """5 good videos of different sizes and lengths (one shorter than a clip), a bad one."""
    root = tmp_path_factory.mktemp('videos')
    sizes = [(24, 32), (30, 26), (24, 24), (40, 28), (26, 34)]
    lengths = [12, 9, 3, 16, 10]
    good = [write_video(root / f'v{i}.mp4', n, size, seed=i)
            for i, (size, n) in enumerate(zip(sizes, lengths, strict=True))]
    (root / 'bad.mp4').write_bytes(b'this is not a video' * 10)
    (root / 'notes.txt').write_text('not listed: no video suffix\n')
    rows = [(good[3], 7), (good[0], 1), (root / 'bad.mp4', 5), (good[4], 2), (good[1], 0),
            (good[2], 3)]
    (root / 'index.csv').write_text(''.join(f'{p} {label}\n' for p, label in rows))
    return root


def _reference(run, paths, which='target_encoder'):
    """float32 tokens [N, 18, 20] from encoder.apply on the same clips."""
    model = vjepa_jax.load(run, which=which)
    encoder, params = model.encoder, model.encoder_params
    clips = np.stack([load_clip(p, FRAMES, STEP, 24) for p in paths])
    fn = jax.jit(lambda p, v: encoder.apply({'params': p}, normalize_video(v)))
    return np.asarray(fn(params, clips))


def _count_compiles():
    compiles = []

    def listener(event, duration, **_):
        if event == '/jax/core/compile/backend_compile_duration':
            compiles.append(event)

    return compiles, listener


def test_folder_features_equal_encoder_apply(run, videos):
    result = extract_features(run, videos, frame_step=STEP, batch_size=2, workers=2,
                              progress=None)
    good = sorted(str(p) for p in videos.glob('v*.mp4'))
    assert result['paths'].tolist() == good
    assert result['labels'].tolist() == [-1] * 5
    assert result['failed_paths'].tolist() == [str(videos / 'bad.mp4')]
    assert result['failed_reasons'].tolist() == ['not_a_video']
    assert result['tokens'].dtype == np.float16 and result['tokens'].shape == (5, TOKENS, WIDTH)
    assert result['pooled'].dtype == np.float32 and result['pooled'].shape == (5, WIDTH)
    assert result['grid'].tolist() == list(GRID)
    config = json.loads(str(result['model_config']))
    assert (config['embed_dim'], config['num_frames'], config['img_size']) == (WIDTH, 4, 24)
    settings = json.loads(str(result['settings']))
    assert (settings['frames'], settings['crop'], settings['which']) == (4, 24, 'target_encoder')
    assert (settings['format'], settings['step']) == ('train_workdir', 2)

    ref = _reference(run, good)
    np.testing.assert_allclose(result['pooled'], ref.mean(axis=1), rtol=1e-5, atol=1e-5)
    # float16 storage: relative rounding 2^-11.
    np.testing.assert_allclose(result['tokens'].astype(np.float32), ref, rtol=2e-3, atol=2e-3)
    assert np.abs(ref).max() > 0.5  # not a degenerate all-zero comparison
    # Each row is its own video (padding rows dropped, order kept).
    assert len({tuple(np.round(r, 4)) for r in result['pooled']}) == 5


def test_index_labels_one_compile_and_online_encoder(run, videos):
    compiles, listener = _count_compiles()
    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        # 5 good videos in batches of 3: one full batch, one padded; the bad row in between.
        result = extract_features(run, videos / 'index.csv', frame_step=STEP, batch_size=3,
                                  which='encoder', keep_tokens=False, progress=None)
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    assert len(compiles) == 1
    assert 'tokens' not in result
    names = [p.rsplit('/', 1)[-1] for p in result['paths']]
    assert names == ['v3.mp4', 'v0.mp4', 'v4.mp4', 'v1.mp4', 'v2.mp4']  # index order
    assert result['labels'].tolist() == [7, 1, 2, 0, 3]
    assert result['failed_paths'].tolist() == [str(videos / 'bad.mp4')]
    ref = _reference(run, result['paths'].tolist(), which='encoder')
    np.testing.assert_allclose(result['pooled'], ref.mean(axis=1), rtol=1e-5, atol=1e-5)
    target = extract_features(run, videos / 'v0.mp4', frame_step=STEP, keep_tokens=False,
                              progress=None)
    assert not np.allclose(target['pooled'][0], result['pooled'][1], atol=1e-3)


def test_cli_writes_npz_on_all_devices(run, videos, tmp_path, capsys):
    out = tmp_path / 'sub' / 'features.npz'
    # Batch 8 over the 8 test devices: the batch is split across them.
    code = main(['--checkpoint', str(run), '--videos', str(videos / 'index.csv'), '--out',
                 str(out), '--batch', '8', '--frame-step', str(STEP), '--progress-every', '1',
                 '--step', '2'])
    assert code == 0
    err = capsys.readouterr().err
    assert 'on 8 device(s)' in err and 'videos/s' in err and '1 failed' in err
    assert 'skipping' in err and 'not_a_video' in err
    with np.load(out, allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}
    assert set(data) == {'tokens', 'pooled', 'paths', 'labels', 'failed_paths',
                         'failed_reasons', 'failed_details', 'grid', 'model_config',
                         'settings'}
    assert data['tokens'].shape == (5, TOKENS, WIDTH) and data['tokens'].dtype == np.float16
    assert data['labels'].tolist() == [7, 1, 2, 0, 3]
    ref = _reference(run, data['paths'].tolist())
    np.testing.assert_allclose(data['pooled'], ref.mean(axis=1), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(data['tokens'].astype(np.float32), ref, rtol=2e-3, atol=2e-3)
    assert not list(out.parent.glob('.*'))  # temporary files are gone


def test_all_bad_videos_still_write_a_file(run, tmp_path, capsys):
    (tmp_path / 'a.mp4').write_bytes(b'')
    (tmp_path / 'b.mkv').write_bytes(b'\x1aE\xdf\xa3 truncated')
    out = tmp_path / 'f.npz'
    assert main(['--checkpoint', str(run), '--videos', str(tmp_path), '--out', str(out)]) == 1
    assert 'no video could be read' in capsys.readouterr().err
    with np.load(out) as z:
        assert z['tokens'].shape == (0, TOKENS, WIDTH) and z['pooled'].shape == (0, WIDTH)
        assert z['failed_reasons'].tolist() == ['empty', 'corrupt']


def test_cli_user_errors_are_one_line(run, videos, tmp_path, capsys):
    (tmp_path / 'empty').mkdir()
    cases = [
        (['--checkpoint', str(tmp_path / 'nope'), '--videos', str(videos)], 'No checkpoint'),
        (['--checkpoint', str(run), '--videos', str(tmp_path / 'empty')], 'No video files'),
        (['--checkpoint', str(run), '--videos', str(tmp_path / 'none')], 'No videos at'),
        (['--checkpoint', str(run), '--videos', str(videos), '--crop', '30'], 'does not split'),
        (['--checkpoint', str(tmp_path), '--videos', str(videos)], 'not a checkpoint'),
        (['--checkpoint', str(run), '--step', '5', '--videos', str(videos)],
         'no finished step 5; it has steps 2'),
    ]
    for args, message in cases:
        assert exit_status(main, [*args, '--out', str(tmp_path / 'f.npz')]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith('error: ') and message in err and '\n' not in err
    assert not (tmp_path / 'f.npz').exists()


def test_list_videos(videos):
    paths, labels = list_videos(videos)
    assert [p.rsplit('/', 1)[-1] for p in paths] == ['bad.mp4'] + [f'v{i}.mp4' for i in range(5)]
    assert labels.tolist() == [-1] * 6
    paths, labels = list_videos(videos / 'index.csv')
    assert labels.tolist() == [7, 1, 5, 2, 0, 3]
    with pytest.raises(VideoListError, match='No videos at'):
        list_videos(videos / 'missing')


def test_official_checkpoint(videos):
    path = official_file()
    result = extract_features(path, videos / 'index.csv', frame_step=1, batch_size=4,
                              progress=None, import_kwargs={'num_heads': 4})
    assert result['grid'].tolist() == [8, 5, 5]  # the official model's 16 x 80 x 80 clips
    model = vjepa_jax.load(path, num_heads=4)
    clips = np.stack([load_clip(p, 16, 1, 80) for p in result['paths']])
    ref = np.asarray(model.encode(clips))  # uint8: encode normalises
    np.testing.assert_allclose(result['pooled'], ref.mean(axis=1), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(result['tokens'].astype(np.float32), ref, rtol=2e-3, atol=2e-3)

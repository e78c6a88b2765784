"""A tiny end-to-end surprise test: training workdir -> matched sets -> curves -> table -> picture."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.checkpoints import TINY_MODEL, write_train_workdir
from vjepa_jax.evaluation import surprise
from vjepa_jax.evaluation.jepa_loading import future_mask_token, load_jepa
from vjepa_jax.evaluation.matched_sets import read_matched_sets
from vjepa_jax.evaluation.surprise_windows import window_starts
from vjepa_jax.tools import demo_story, surprise_plot

WORLD = Path(__file__).resolve().parents[2] / 'data' / 'make_physics_videos.py'


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp('surprise')
    write_train_workdir(root / 'pretrain', steps=(2,))
    config = json.loads((root / 'pretrain' / 'config.json').read_text())
    config['masks'] = [{'type': 'multiblock3d'}, {'type': 'future', 'context_steps': 1}]
    (root / 'pretrain' / 'config.json').write_text(json.dumps(config))
    spec = importlib.util.spec_from_file_location('make_physics_videos', WORLD)
    world = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(world)
    paths = world.make_world(str(root / 'world'), num_train=0, sets_per_type=1,
                             violations=('teleport', 'solidity'))
    return root, read_matched_sets(paths['sets'])


def test_windows_slide_like_the_official_unfold():
    np.testing.assert_array_equal(window_starts(16, 4, 2), [0, 2, 4, 6, 8, 10, 12])
    assert window_starts(3, 4, 2).size == 0


def test_future_mask_token_is_the_future_sets_token():
    assert future_mask_token([{'type': 'multiblock3d'}, {'type': 'future'}], 2) == 1
    assert future_mask_token([{}, {}, {'type': 'future'}], 2) == 0
    assert future_mask_token(None, 2) == 0


def test_end_to_end_curves_cancel_outside_the_splice(run, tmp_path):
    root, sets = run
    models = load_jepa(root / 'pretrain')
    assert models.mask_token == 1 and models.encoder.num_frames == TINY_MODEL['num_frames']
    protocol = surprise.Protocol(frame_step=2, stride=2, context_frames=(2,))
    result = surprise.evaluate_surprise(models, sets, protocol)
    assert list(result.tables['mean']) == ['solidity', 'teleport', 'mean']
    assert result.tables['mean']['mean'].n == 2
    for s in sets:
        x, y, a, _ = result.curves[s.name]
        assert x.shape == (7,) and np.all(np.isfinite(x)) and np.all(x > 0)
        # Windows wholly before the splice see x's (or y's) frames in a (or b) too, and
        # windows wholly after it y's (x's): only windows across the splice can differ.
        before = [w for w in range(7) if not np.allclose(x[w], a[w], rtol=1e-5)]
        after = [w for w in range(7) if not np.allclose(y[w], a[w], rtol=1e-5)]
        assert before and after and max(before) >= min(after) - 1
        assert not np.allclose(x, a)
        np.testing.assert_allclose(x[:min(before)], a[:min(before)], rtol=1e-5)
        np.testing.assert_allclose(y[max(after) + 1:], a[max(after) + 1:], rtol=1e-5)


@pytest.mark.slow
def test_cli_picture_and_story(run, tmp_path, capsys):
    root, sets = run
    out = tmp_path / 'demo'
    out.mkdir()
    sets_file = Path(sets[0].clips[0]).parents[2] / 'test_sets.txt'
    for name, extra in (('surprise_pretrained.json', []),
                        ('surprise_random.json', ['--random-init'])):
        assert surprise.main(['--checkpoint', str(root / 'pretrain'), '--sets', str(sets_file),
                              '--context-frames', '2', '--out', str(out / name), *extra]) == 0
    printed = capsys.readouterr().out
    random = json.loads((out / 'surprise_random.json').read_text())
    assert random['random_init'] and random['sets'][0]['clips'][0]['curve'] != (
        json.loads((out / 'surprise_pretrained.json').read_text())['sets'][0]['clips'][0]['curve'])
    assert 'relative accuracy (%), pretrained' in printed and 'teleport (1)' in printed
    saved = json.loads((out / 'surprise_pretrained.json').read_text())
    assert saved['protocol'] == {'frame_step': 2, 'stride': 2, 'context_frames': [2]}
    assert len(saved['sets'][0]['clips'][0]['curve']) == 7
    assert surprise_plot.main(['--results', str(out / 'surprise_pretrained.json'),
                               str(out / 'surprise_random.json'), '--labels', 'pretrained',
                               'random', '--out', str(out / 'surprise.png')]) == 0
    assert (out / 'surprise.png').stat().st_size > 1000
    for name, top1 in (('probe_pretrained', 62.5), ('probe_random', 85.0)):
        (out / name).mkdir()
        (out / name / 'results.json').write_text(json.dumps(
            {'best': {'top1': top1}, 'num_val': 80, 'num_classes': 8}))
    text, ok = demo_story.story(out)
    assert 'teleport (1)' in text and 'pretrained  62.5 +- 5.4%' in text
    assert 'surprise.png' in text and ok in (True, False)
    with pytest.raises(SystemExit) as err:
        surprise.main(['--checkpoint', str(tmp_path / 'nothing'), '--sets', str(sets_file)])
    assert err.value.code == 2 and 'error: no checkpoint at' in capsys.readouterr().err

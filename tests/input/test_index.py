"""Index files (official ``path label`` lines) and dataset mixing."""

from __future__ import annotations

import os

import numpy as np
import pytest

from vjepa_jax.input.index import (
    IndexFileError,
    MixedIndex,
    VideoIndex,
    mix_indices,
    read_index,
)


def write(path, text: str | bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, newline='')                  # keep '\r\n' as written
    return path


def test_official_lines_spaces_tabs_crlf_and_relative_paths(tmp_path, monkeypatch):
    index = write(tmp_path / 'lists' / 'train.csv',
                  '/abs/k400/a.mp4 3\n'
                  'clips/b.mp4 0\r\n'
                  '\n'
                  '   \n'
                  '../videos/my clip (1).mp4 12\n'
                  '  /abs/c.mp4\t-1  \n'
                  'd.mp4 +7')                             # no trailing newline
    monkeypatch.chdir(tmp_path)                            # resolution must not use the cwd
    idx = read_index(os.path.relpath(index, tmp_path))
    lists = str(tmp_path / 'lists')
    assert idx.paths == ('/abs/k400/a.mp4', os.path.join(lists, 'clips', 'b.mp4'),
                         str(tmp_path / 'videos' / 'my clip (1).mp4'), '/abs/c.mp4',
                         os.path.join(lists, 'd.mp4'))
    assert idx.labels.dtype == np.int64 and idx.labels.tolist() == [3, 0, 12, -1, 7]
    assert len(idx) == 5 and idx.source == os.path.join('lists', 'train.csv')
    with pytest.raises(ValueError):
        idx.labels[0] = 5                                  # read-only


@pytest.mark.parametrize('line', ['video.mp4', 'video.mp4 1.5', 'video.mp4 abc', '7',
                                  'video.mp4 1e3', 'video.mp4 ٣'])
def test_bad_line_names_file_line_and_text(tmp_path, line):
    index = write(tmp_path / 'bad.csv', f'ok.mp4 1\n\n{line}\nok2.mp4 2\n')
    with pytest.raises(IndexFileError) as info:
        read_index(index)
    msg = str(info.value)
    assert f'{index}:3:' in msg and repr(line) in msg
    assert isinstance(info.value, ValueError)


def test_missing_empty_and_binary_files(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.csv'):
        read_index(tmp_path / 'nope.csv')
    with pytest.raises(IndexFileError, match='no videos'):
        read_index(write(tmp_path / 'blank.csv', '\n  \n'))
    with pytest.raises(IndexFileError, match='UTF-8'):
        read_index(write(tmp_path / 'bin.csv', b'a.mp4 1\n\xff\xfe 2\n'))


def test_video_index_validates():
    with pytest.raises(ValueError, match='3 integers'):
        VideoIndex(('a', 'b', 'c'), np.array([1, 2]))
    with pytest.raises(ValueError, match='3 integers'):
        VideoIndex(('a', 'b', 'c'), np.array([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match='non-empty'):
        VideoIndex(('a', ''), np.array([1, 2]))


def make(name: str, n: int, first_label: int = 0) -> VideoIndex:
    return VideoIndex(tuple(f'/{name}/{i}.mp4' for i in range(n)),
                      np.arange(first_label, first_label + n), name)


def test_unweighted_is_concatenation(tmp_path):
    a = write(tmp_path / 'a.csv', 'x.mp4 5\ny.mp4 6\n')
    mixed = mix_indices([a, make('b', 3, 10)])
    assert isinstance(mixed, MixedIndex) and len(mixed) == mixed.num_rows == 5
    np.testing.assert_array_equal(mixed.epoch_order(0), np.arange(5))
    np.testing.assert_array_equal(mixed.epoch_order(7, seed=3), np.arange(5))
    src, row = mixed.locate(np.array([[0, 1], [2, 4]]))
    assert src.tolist() == [[0, 0], [1, 1]] and row.tolist() == [[0, 1], [0, 2]]
    assert [mixed.path(i) for i in range(5)] == [
        str(tmp_path / 'x.mp4'), str(tmp_path / 'y.mp4'), '/b/0.mp4', '/b/1.mp4', '/b/2.mp4']
    assert [mixed.label(i) for i in range(5)] == [5, 6, 10, 11, 12]
    np.testing.assert_allclose(mixed.row_probabilities(), np.full(5, 0.2))
    with pytest.raises(IndexError):
        mixed.locate(5)
    with pytest.raises(ValueError, match='needs weights'):
        mix_indices([make('a', 2)], num_samples=3)


def test_row_probabilities_follow_official_sample_weights():
    # Official VideoDataset: sample_weights += [dw / ns] * ns per dataset.
    sizes, weights = (3, 1, 6), (0.5, 0.2, 0.3)
    mixed = mix_indices([make(str(i), n) for i, n in enumerate(sizes)], weights=weights)
    official = np.concatenate([[dw / ns] * ns for dw, ns in zip(weights, sizes)])
    np.testing.assert_allclose(mixed.row_probabilities(), official / official.sum(), rtol=1e-12)


def test_weighted_with_replacement_hits_source_shares():
    # Sizes very unequal: a small source with a big weight repeats, a big one is subsampled.
    sizes, weights = (10, 1000, 90), (3.0, 1.0, 1.0)
    mixed = mix_indices([make(str(i), n) for i, n in enumerate(sizes)], weights=weights,
                        num_samples=100_000, seed=5)
    ids = mixed.epoch_order(0)
    assert ids.shape == (100_000,) and ids.dtype == np.int64
    src, row = mixed.locate(ids)
    share = np.bincount(src, minlength=3) / ids.size
    expected = np.asarray(weights) / sum(weights)
    # 5 binomial standard deviations (about 0.008 at p = 0.6): a wrong rule (size-
    # proportional shares 0.01 / 0.91 / 0.08) misses by far more.
    sigma = np.sqrt(expected * (1 - expected) / ids.size)
    assert np.all(np.abs(share - expected) < 5 * sigma), (share, expected)
    # Rows within the small source are uniform: each of its 10 rows has mean 6000 hits.
    counts = np.bincount(row[src == 0], minlength=10)
    assert np.all(np.abs(counts - counts.mean()) < 5 * np.sqrt(counts.mean()))
    assert set(np.unique(row[src == 1])) <= set(range(1000))


def test_weighted_order_is_deterministic_per_seed_and_epoch():
    mixed = mix_indices([make('a', 50), make('b', 20)], weights=(1.0, 2.0), seed=11)
    assert len(mixed) == 70                                  # default: all rows
    first = mixed.epoch_order(3)
    np.testing.assert_array_equal(first, mixed.epoch_order(3))
    np.testing.assert_array_equal(first, mixed.epoch_order(3, seed=11))
    assert not np.array_equal(first, mixed.epoch_order(4))
    assert not np.array_equal(first, mixed.epoch_order(3, seed=12))
    again = mix_indices([make('a', 50), make('b', 20)], weights=(1.0, 2.0), seed=11)
    np.testing.assert_array_equal(first, again.epoch_order(3))
    with pytest.raises(ValueError, match='epoch'):
        mixed.epoch_order(-1)
    with pytest.raises(ValueError, match='seed'):
        mixed.epoch_order(0, seed=1.5)


def test_official_no_replacement_draws_every_row_once():
    mixed = mix_indices([make('a', 30), make('b', 7)], weights=(1.0, 9.0), replacement=False)
    for epoch in range(3):
        np.testing.assert_array_equal(np.sort(mixed.epoch_order(epoch)), np.arange(37))
    # The weights only bias the order: the first draw is from a row with probability
    # p_row, so source b (weight 0.9) comes first in ~90% of epochs (5 sigma = 0.034).
    two = mix_indices([make('a', 1), make('b', 1)], weights=(1.0, 9.0), replacement=False)
    first = np.array([two.epoch_order(e)[0] for e in range(2000)])
    assert abs(np.mean(first == 1) - 0.9) < 5 * np.sqrt(0.09 / 2000)
    prefix = mix_indices([make('a', 30)], weights=(1.0,), num_samples=10, replacement=False)
    assert len(np.unique(prefix.epoch_order(0))) == 10


@pytest.mark.parametrize('kwargs, match', [
    ({'weights': (1.0,)}, 'one weight per index'),
    ({'weights': (1.0, 0.0)}, '> 0'),
    ({'weights': (1.0, -2.0)}, '> 0'),
    ({'weights': (1.0, float('nan'))}, '> 0'),
    ({'weights': (1.0, 1.0), 'num_samples': 0}, 'positive int'),
    ({'weights': (1.0, 1.0), 'num_samples': 2.5}, 'positive int'),
    ({'weights': (1.0, 1.0), 'num_samples': 6, 'replacement': False}, 'replacement=True'),
    ({'seed': -1}, 'seed'),
])
def test_bad_mixing_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        mix_indices([make('a', 2), make('b', 3)], **kwargs)


def test_bad_indices_argument(tmp_path):
    with pytest.raises(ValueError, match='empty'):
        mix_indices([])
    with pytest.raises(TypeError, match='sequence'):
        mix_indices(str(tmp_path / 'a.csv'))
    with pytest.raises(FileNotFoundError, match='missing.csv'):
        mix_indices([tmp_path / 'missing.csv'])

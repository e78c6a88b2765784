"""Image-probe batches: sharding, per-position augmentation, eval padding, clips, errors."""

from __future__ import annotations

import numpy as np
import pytest

from vjepa_jax.input.image_transforms import eval_transform
from vjepa_jax.input.images import (
    ImageConfig,
    batch_images,
    image_batches,
    image_dataset,
)

CROP = 16
CONFIG = ImageConfig(crop_size=CROP)


def _image(rng: np.random.Generator, i: int) -> np.ndarray:
    return rng.integers(0, 256, (20 + 3 * (i % 5), 24 + 5 * (i % 3), 3), dtype=np.uint8)


class ListSource:
    """In-memory random-access source with the TFDS element layout."""

    def __init__(self, n: int, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.examples = [{'image': _image(rng, i), 'label': np.int64(i % 7)} for i in range(n)]

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> dict:
        return self.examples[index]


def _stream(ds, count):
    return [ds[i] for i in range(count)]


def test_training_is_deterministic_given_the_seed():
    source = ListSource(10)

    def batches(seed):
        return _stream(image_batches(source, 3, training=True, config=CONFIG, seed=seed), 4)

    a, b, c = batches(5), batches(5), batches(6)
    for x, y in zip(a, b):
        for key in x:
            np.testing.assert_array_equal(x[key], y[key])
    assert any(not np.array_equal(x['image'], y['image']) for x, y in zip(a, c))


def test_training_shards_are_disjoint_and_do_not_depend_on_process_count():
    source = ListSource(12)
    single = image_dataset(source, training=True, config=CONFIG, seed=3, num_epochs=2)
    assert len(single) == 24
    shards = [image_dataset(source, training=True, config=CONFIG, seed=3, num_epochs=2,
                            process_index=p, process_count=3) for p in range(3)]
    assert [len(s) for s in shards] == [8, 8, 8]
    for position in range(24):
        ours = shards[position % 3][position // 3]
        theirs = single[position]
        assert ours['index'] == theirs['index']
        np.testing.assert_array_equal(ours['image'], theirs['image'])
    # Each epoch holds every example once, in a new order per epoch.
    order = [single[i]['index'] for i in range(24)]
    assert sorted(order[:12]) == sorted(order[12:]) == list(range(12))
    assert order[:12] != order[12:]
    epoch0 = [shards[p][k]['index'] for p in range(3) for k in range(4)]
    assert sorted(epoch0) == list(range(12))


def test_finite_training_stream_is_equal_across_processes_and_drops_remainder():
    source = ListSource(7)
    shards = [image_dataset(source, training=True, config=CONFIG, num_epochs=1,
                            process_index=p, process_count=3) for p in range(3)]
    assert [len(s) for s in shards] == [2, 2, 2]  # 7 -> 6 examples, 2 per process
    lengths = [len(batch_images(s, 2, training=True)) for s in shards]
    assert lengths == [1, 1, 1]
    assert len(batch_images(shards[0], 3, training=True)) == 0  # partial batch dropped


def test_eval_pads_statically_and_counts_every_example_once():
    source = ListSource(10)
    per_process = [list(image_batches(source, 2, training=False, config=CONFIG,
                                      process_index=p, process_count=4)) for p in range(4)]
    # ceil(10 / 4) = 3 elements per process (2 of them padded), then ceil(3 / 2) batches.
    assert [len(b) for b in per_process] == [2, 2, 2, 2]
    seen = []
    for batches in per_process:
        for b in batches:
            assert set(b) == {'image', 'label', 'index', 'valid'}
            assert b['image'].shape == (2, CROP, CROP, 3) and b['valid'].dtype == bool
            assert np.all(b['image'][~b['valid']] == 0) and np.all(b['index'][~b['valid']] == -1)
            for i, label, image in zip(b['index'][b['valid']], b['label'][b['valid']],
                                       b['image'][b['valid']]):
                assert label == source[i]['label']
                np.testing.assert_array_equal(image, eval_transform(source[i]['image'], CROP))
            seen += list(b['index'][b['valid']])
    assert sorted(seen) == list(range(10))


def test_batch_images_video_key_and_partial_batches():
    ds = image_dataset(ListSource(5), training=False, config=CONFIG)
    video = batch_images(ds, 2, training=False, num_frames=3)
    assert len(video) == 3
    last = video[2]
    assert 'image' not in last and last['video'].shape == (2, 3, CROP, CROP, 3)
    np.testing.assert_array_equal(last['valid'], [True, False])
    np.testing.assert_array_equal(last['video'][0, 2], ds[4]['image'])
    dropped = batch_images(ds, 2, training=True)
    assert len(dropped) == 2 and 'valid' not in dropped[1]


def test_bad_arguments_are_rejected():
    source = ListSource(3)
    with pytest.raises(ValueError, match='process_index'):
        image_dataset(source, training=True, process_index=2, process_count=2)
    with pytest.raises(ValueError, match='seed'):
        image_dataset(source, training=True, seed=-1)

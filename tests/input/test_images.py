"""Image-probe sources: TFDS ArrayRecord reading, transforms, sharding, eval padding, errors."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from vjepa_jax.input import images
from vjepa_jax.input.images import (
    PROBE_DATASETS,
    DatasetNotPreparedError,
    ImageConfig,
    batch_images,
    eval_transform,
    image_batches,
    image_dataset,
    image_to_clip,
    probe_source,
    tfds_source,
    train_transform,
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


def _png(image: np.ndarray) -> io.BytesIO:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format='PNG')
    buf.seek(0)
    return buf


@pytest.fixture(scope='module')
def tfds_dir(tmp_path_factory):
    """A data_dir with two datasets prepared as ArrayRecord, built without TensorFlow.

    ``vjepa_tiny_images`` (train 13, validation 11) and a stand-in
    ``i_naturalist2021`` 2.0.1 (val 5) to check the pinned registry name. Images
    are given as PNG files, so TFDS does not need TensorFlow to encode them.
    """
    data_dir = tmp_path_factory.mktemp('tfds')

    def features():
        return tfds.features.FeaturesDict({
            'image': tfds.features.Image(shape=(None, None, 3)),
            'label': tfds.features.ClassLabel(num_classes=7)})

    def examples(n, seed):
        rng = np.random.default_rng(seed)
        for i in range(n):
            yield i, {'image': _png(_image(rng, i)), 'label': i % 7}

    with tfds.core.registered.skip_registration():
        class VjepaTinyImages(tfds.core.GeneratorBasedBuilder):
            VERSION = tfds.core.Version('1.0.0')

            def _info(self):
                return tfds.core.DatasetInfo(builder=self, features=features())

            def _split_generators(self, dl_manager):
                return {'train': self._generate_examples(13, 0),
                        'validation': self._generate_examples(11, 1)}

            def _generate_examples(self, n, seed):
                yield from examples(n, seed)

        class INaturalist2021(VjepaTinyImages):
            VERSION = tfds.core.Version('2.0.1')

            def _split_generators(self, dl_manager):
                return {'val': self._generate_examples(5, 2)}

    for cls in (VjepaTinyImages, INaturalist2021):
        cls(data_dir=str(data_dir), file_format='array_record').download_and_prepare()
    return data_dir


# --------------------------------------------------------------------------- TFDS sources


def test_tfds_source_reads_prepared_array_record_into_batches(tfds_dir):
    train = tfds_source('vjepa_tiny_images', 'train', data_dir=tfds_dir)
    assert len(train) == 13
    example = train[4]
    assert example['image'].dtype == np.uint8 and example['image'].ndim == 3
    batch = image_batches(train, 4, training=True, config=CONFIG, seed=0)[0]
    assert set(batch) == {'image', 'label', 'index'}
    assert batch['image'].shape == (4, CROP, CROP, 3) and batch['image'].dtype == np.uint8
    assert batch['label'].dtype == np.int64
    np.testing.assert_array_equal(batch['label'], [int(train[i]['label']) for i in batch['index']])

    val = tfds_source('vjepa_tiny_images', 'validation', data_dir=tfds_dir)
    batches = list(image_batches(val, 4, training=False, config=CONFIG))
    assert len(batches) == 3
    seen = np.concatenate([b['index'][b['valid']] for b in batches])
    np.testing.assert_array_equal(np.sort(seen), np.arange(11))


def test_inat21_registry_name_reads_a_prepared_copy(tfds_dir):
    # The unpinned name needs the builder code, whose label file the 4.9.10 wheel lacks.
    assert PROBE_DATASETS['inat21'].tfds_name == 'i_naturalist2021:2.0.1'
    val = probe_source('inat21', training=False, data_dir=tfds_dir)
    assert len(val) == 5
    assert eval_transform(val[0]['image'], CROP).shape == (CROP, CROP, 3)


@pytest.mark.parametrize('key', ['in1k', 'places365'])
def test_mocked_tfds_probe_sources(key, tmp_path):
    with tfds.testing.mock_data(num_examples=6):
        source = probe_source(key, training=True, data_dir=tmp_path)
        assert len(source) == 6
        train = image_batches(source, 3, training=True, config=CONFIG, seed=2)[1]
        evaluation = image_batches(probe_source(key, training=False, data_dir=tmp_path), 4,
                                   training=False, config=CONFIG, num_frames=2)
        last = evaluation[1]
    assert train['image'].shape == (3, CROP, CROP, 3) and train['image'].dtype == np.uint8
    assert np.all((train['label'] >= 0) & (train['label'] < PROBE_DATASETS[key].num_classes))
    assert last['video'].shape == (4, 2, CROP, CROP, 3)
    np.testing.assert_array_equal(last['valid'], [True, True, False, False])


@pytest.mark.parametrize('key', sorted(PROBE_DATASETS))
def test_not_prepared_error_says_dataset_dir_and_command(key, tmp_path):
    base = PROBE_DATASETS[key].tfds_name.partition(':')[0]
    with pytest.raises(DatasetNotPreparedError) as info:
        probe_source(key, training=True, data_dir=tmp_path)
    message = str(info.value)
    assert repr(PROBE_DATASETS[key].tfds_name) in message
    assert f'tfds build {base} --data_dir={tmp_path} --file_format=array_record' in message
    assert ('--manual_dir' in message) == (key == 'in1k')


def test_tfrecord_copy_is_reported_as_not_array_record(tmp_path):
    version = tmp_path / 'imagenet2012' / '5.1.0'
    version.mkdir(parents=True)
    (version / 'dataset_info.json').write_text(json.dumps({'name': 'imagenet2012'}))
    (version / 'imagenet2012-train.tfrecord-00000-of-00001').write_bytes(b'')
    with pytest.raises(DatasetNotPreparedError, match='not as ArrayRecord'):
        tfds_source('imagenet2012', 'train', data_dir=tmp_path)


def test_other_tfds_errors_pass_through(tfds_dir):
    with pytest.raises(Exception) as info:
        tfds_source('vjepa_tiny_images', 'no_such_split', data_dir=tfds_dir)
    assert not isinstance(info.value, DatasetNotPreparedError)


# --------------------------------------------------------------------------- transforms


def test_eval_transform_is_pil_bilinear_short_side_then_centre_crop():
    image = np.random.default_rng(0).integers(0, 256, (40, 61, 3), dtype=np.uint8)
    # short side 40 -> int(16 * 256 / 224) = 18, long side int(18 * 61 / 40) = 27;
    # centre crop offsets round((18 - 16) / 2) = 1 and round((27 - 16) / 2) = round(5.5) = 6.
    resized = np.asarray(Image.fromarray(image).resize((27, 18), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(eval_transform(image, CROP), resized[1:17, 6:22])
    # Already at the resize size: a pure crop; a grey image becomes RGB.
    square = image[:18, :18, :1]
    out = eval_transform(square, CROP)
    np.testing.assert_array_equal(out, np.repeat(square[1:17, 1:17], 3, axis=-1))


def test_train_transform_crop_flip_exactly():
    image = np.random.default_rng(1).integers(0, 256, (CROP, CROP, 3), dtype=np.uint8)
    whole = {'scale': (1.0, 1.0), 'ratio': (1.0, 1.0), 'erase_prob': 0.0}
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(train_transform(image, rng, CROP, flip_prob=0.0, **whole), image)
    np.testing.assert_array_equal(train_transform(image, rng, CROP, flip_prob=1.0, **whole),
                                  image[:, ::-1])
    # The official range: the box is at most the image, the output always crop x crop.
    big = np.random.default_rng(2).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    for seed in range(5):
        out = train_transform(big, np.random.default_rng(seed), CROP)
        assert out.shape == (CROP, CROP, 3) and out.dtype == np.uint8


def test_random_erasing_box_and_noise():
    image = np.full((64, 64, 3), 7, np.uint8)
    keep = {'scale': (1.0, 1.0), 'ratio': (1.0, 1.0), 'flip_prob': 0.0}
    np.testing.assert_array_equal(
        train_transform(image, np.random.default_rng(0), 64, erase_prob=0.0, **keep), image)
    fractions, noise = [], []
    for seed in range(20):
        out = train_transform(image, np.random.default_rng(seed), 64, erase_prob=1.0, **keep)
        changed = np.any(out != 7, axis=-1)
        rows, cols = np.nonzero(changed)
        # One rectangle (noise may hit 7 by chance inside it, so use the bounding box).
        top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
        assert changed[top:bottom, left:right].mean() > 0.9
        assert not changed[:top].any() and not changed[bottom:].any()
        fractions.append((bottom - top) * (right - left) / 64 ** 2)
        noise.append(out[top:bottom, left:right].reshape(-1, 3))
    assert 0.015 <= min(fractions) and max(fractions) <= 0.36
    z = (np.concatenate(noise) / 255.0 - np.asarray(images.IMAGENET_MEAN)) / np.asarray(
        images.IMAGENET_STD)
    np.testing.assert_allclose(z.mean(0), 0.0, atol=0.1)
    np.testing.assert_allclose(z.std(0), 1.0, atol=0.15)


def test_image_to_clip_repeats_along_time():
    image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    clip = image_to_clip(image, 5)
    assert clip.shape == (5, 2, 3, 3)
    assert all(np.array_equal(frame, image) for frame in clip)
    batch = np.stack([image, image + 1])
    clips = image_to_clip(batch)
    assert clips.shape == (2, images.OFFICIAL_NUM_FRAMES, 2, 3, 3)
    np.testing.assert_array_equal(clips[1, 7], image + 1)


# --------------------------------------------------------------------------- datasets


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
    with pytest.raises(ValueError, match='unknown|Unknown'):
        probe_source('places205', training=True)
    with pytest.raises(TypeError, match='uint8'):
        eval_transform(np.zeros((8, 8, 3), np.float32), 4)

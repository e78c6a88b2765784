"""Image-probe sources: TFDS ArrayRecord reading, the registry, not-prepared errors."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from vjepa_jax.input.image_sources import (
    PROBE_DATASETS,
    DatasetNotPreparedError,
    probe_source,
    tfds_source,
)
from vjepa_jax.input.image_transforms import eval_transform
from vjepa_jax.input.images import ImageConfig, image_batches

CROP = 16
CONFIG = ImageConfig(crop_size=CROP)


def _image(rng: np.random.Generator, i: int) -> np.ndarray:
    return rng.integers(0, 256, (20 + 3 * (i % 5), 24 + 5 * (i % 3), 3), dtype=np.uint8)


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


def test_unknown_probe_dataset_is_rejected():
    with pytest.raises(ValueError, match='unknown|Unknown'):
        probe_source('places205', training=True)

"""Image sources for the frozen-encoder image probes: TFDS ArrayRecord -> grain -> uint8 batches.

Sources (``tfds.data_source``: random access to ArrayRecord files, decoded
with NumPy / Pillow; TensorFlow is not needed to read):

- ``in1k``: ``imagenet2012``, splits train / validation, 1000 classes
  (official probe: ImageNet);
- ``places365``: ``places365_small``, train / validation, 365 classes
  (official probe: Places205, see below);
- ``inat21``: ``i_naturalist2021:2.0.1``, train / val, 10000 classes
  (official probe: iNat21).

Notes on the sources:

- The official V-JEPA image probes use **Places205** (205 classes). TFDS has
  no Places205 builder (4.9.10: only ``places365_small``, Places365-Standard
  at 256x256, and ``placesfull``); ``places365`` is the closest TFDS dataset,
  so its numbers are not comparable with the paper's Places205 column. Any
  TFDS name works with ``tfds_source`` (e.g. a builder of your own for
  Places205).
- ``i_naturalist2021`` is pinned to version ``2.0.1``: the tensorflow-datasets
  4.9.10 wheel lacks the builder's label file
  (``i_naturalist2021_labels_ordered_by_json_id.txt``), so constructing the
  builder from code fails; with an explicit version TFDS reads a prepared
  copy from its files (``dataset_info.json`` / ``features.json``) instead.
  Preparing it needs a tensorflow/datasets source checkout, which has the file.
- Data is never downloaded at run time (``download=False``). Prepare it once:
  ``tfds build NAME --data_dir=DIR --file_format=array_record`` (ImageNet also
  needs ``--manual_dir`` holding ``ILSVRC2012_img_{train,val}.tar``; preparing
  may need TensorFlow in the environment that prepares). ``tfds_source``
  raises ``DatasetNotPreparedError`` naming the dataset, the data_dir and that
  command when the data is missing or was prepared as TFRecord.

Official image-probe transforms (``evals/image_classification_frozen/eval.py``):

- training: ``timm.data.create_transform(is_training=True,
  auto_augment='original', interpolation='bicubic', re_prob=0.25,
  re_mode='pixel', re_count=1)``, i.e. random resized crop (area
  ``(0.08, 1.0)``, ratio ``(3/4, 4/3)``, torchvision's rule, bicubic with
  Pillow) -> horizontal flip (p=0.5) -> AutoAugment ImageNet policy (no colour
  jitter: timm disables it with AutoAugment) -> normalise -> random erasing
  (p=0.25, one box of area ``(0.02, 1/3)``, ratio log-uniform in
  ``(0.3, 1/0.3)``, filled with per-pixel N(0, 1) noise in normalised space).
  ``train_transform`` does the crop (same box rule as the video pretraining,
  ``transforms.random_resized_crop_box``, with the image ranges), Pillow
  bicubic resize, flip and random erasing; the erased box is filled on the
  host in uint8 with ``255 * (mean + std * z)``, rounded and clipped to
  [0, 255] (identical to the official noise after normalisation except for
  8-bit rounding and the 3-4% of draws that fall outside [0, 255] and are clipped).
  **AutoAugment is not implemented** (a known deviation).
- evaluation: Pillow bilinear resize of the short side to
  ``int(crop * 256 / 224)`` (long side truncated), then the centre crop
  (``eval_transform``).
- Normalisation (ImageNet mean / std) happens on the device
  (``vjepa_jax.input.normalize``); everything here stays uint8.
- Resizing uses Pillow here, not ``transforms.resize_clip``: the official
  image pipelines resize PIL images, whose bilinear / bicubic filters widen
  (antialias) when downscaling, unlike the official video pipelines.

Images as clips: the official probes feed each image to the video encoder
repeated along time to ``frames_per_clip`` (16). ``image_to_clip`` does that on
the host, but it is cheaper to send images ``[B, H, W, 3]`` and let the
encoder repeat them on the device: ``VisionTransformer.__call__`` accepts
``[B, H, W, C]`` and repeats to its ``num_frames`` itself. ``batch_images``
therefore yields ``'image'`` by default and ``'video'`` only with ``num_frames``.

Sharding and randomness (as ``pipeline.py``): training shuffles all examples
per epoch with ``seed``, repeats, draws each element's augmentation from a
generator seeded by ``(seed, global position)`` (``random_map`` before the
process slice, so a given position is augmented identically whatever the
process count), then process ``p`` of ``P`` takes positions ``p::P``.
Evaluation is unshuffled: process ``p`` takes examples ``p::P``, padded with
``valid=False`` elements to ``ceil(n / P)`` per process, and ``batch_images``
pads the last batch, so every process runs the same number of static-shape
batches and the valid entries cover every example exactly once.

Official sampler differences (for the record): the official loaders use a
``DistributedSampler``, which pads the evaluation set by repeating examples
(counted twice) and keeps a partial last training batch.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
from collections.abc import Mapping, Sequence
from typing import Any

import grain
import numpy as np
from PIL import Image

from vjepa_jax.errors import DataError
from vjepa_jax.input import transforms
from vjepa_jax.input.normalize import IMAGENET_MEAN, IMAGENET_STD

PROBE_SCALE = (0.08, 1.0)          # timm RandomResizedCropAndInterpolation default scale
PROBE_RATIO = (3.0 / 4.0, 4.0 / 3.0)  # timm default ratio
ERASE_PROB = 0.25                  # official re_prob
ERASE_AREA = (0.02, 1.0 / 3.0)     # timm RandomErasing min_area, max_area
ERASE_RATIO = (0.3, 1.0 / 0.3)     # timm RandomErasing min_aspect, 1 / min_aspect
ERASE_ATTEMPTS = 10
OFFICIAL_NUM_FRAMES = 16           # official image probes: frames_per_clip


@dataclasses.dataclass(frozen=True)
class ProbeDataset:
    """A TFDS image dataset used by a probe: its name, splits and class count."""

    tfds_name: str
    train_split: str
    eval_split: str
    num_classes: int
    official: str


PROBE_DATASETS: dict[str, ProbeDataset] = {
    'in1k': ProbeDataset('imagenet2012', 'train', 'validation', 1000, 'ImageNet'),
    'places365': ProbeDataset('places365_small', 'train', 'validation', 365,
                              'none (official probe: Places205, not in TFDS)'),
    'inat21': ProbeDataset('i_naturalist2021:2.0.1', 'train', 'val', 10000, 'iNat21'),
}

# Extra preparation notes for the not-prepared error, by TFDS builder name.
_PREPARE_NOTES = {
    'imagenet2012': ('ImageNet is not downloadable: put ILSVRC2012_img_train.tar and '
                     'ILSVRC2012_img_val.tar (from image-net.org) in a folder and add '
                     '--manual_dir=THAT_FOLDER.'),
    'i_naturalist2021': ('The tensorflow-datasets 4.9.10 wheel lacks this builder\'s label '
                         'file (i_naturalist2021_labels_ordered_by_json_id.txt); run the build '
                         'from a tensorflow/datasets source checkout, which has it.'),
}


class DatasetNotPreparedError(DataError, FileNotFoundError):
    """A TFDS dataset is not prepared (as ArrayRecord) in the given data_dir."""


@dataclasses.dataclass(frozen=True)
class ImageConfig:
    """Probe image transforms (official defaults: crop 224, eval short side 256).

    ``resize_size``: evaluation short side, default ``int(crop_size * 256 / 224)``.
    ``erase_prob``: random erasing probability (0 disables it).
    """

    crop_size: int = 224
    resize_size: int | None = None
    scale: tuple[float, float] = PROBE_SCALE
    ratio: tuple[float, float] = PROBE_RATIO
    flip_prob: float = 0.5
    erase_prob: float = ERASE_PROB


# --------------------------------------------------------------------------- sources


def _default_data_dir() -> str:
    from tensorflow_datasets.core import constants  # lazy: importing TFDS takes ~0.5 s
    return str(constants.get_default_data_dir())


def _preparation_problem(name: str, data_dir: str) -> str | None:
    """Why ``name`` cannot be read from ``data_dir`` (None: it looks prepared as ArrayRecord)."""
    from etils import epath

    base, _, version = name.partition(':')
    root = epath.Path(data_dir) / base
    infos = []
    if root.is_dir():
        for pattern in ('*/dataset_info.json', '*/*/dataset_info.json'):
            infos += [p for p in root.glob(pattern)
                      if not any(part.startswith('incomplete') for part in p.parts)]
    if version and '*' not in version:
        infos = [p for p in infos if p.parent.name == version]
    if not infos:
        where = f'{root}/{version}' if version else str(root)
        return f'no prepared copy (no dataset_info.json under {where})'
    if not any(any(p.parent.glob('*.array_record*')) for p in infos):
        return (f'it is prepared in {infos[0].parent} but not as ArrayRecord (random access '
                'needs --file_format=array_record; TFRecord copies cannot be read here)')
    return None


def tfds_source(name: str, split: str, data_dir: str | os.PathLike | None = None) -> Any:
    """Random-access TFDS source of ``name`` / ``split`` (``tfds.data_source``, no download).

    Elements are dicts of NumPy values (for the image datasets here: ``'image'``
    uint8 ``[H, W, 3]``, ``'label'`` int). Raises ``DatasetNotPreparedError``
    (saying which dataset, which data_dir and the ``tfds build`` command) when
    the data is not prepared as ArrayRecord in ``data_dir`` (default: TFDS's,
    ``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``); other errors pass through.
    """
    import tensorflow_datasets as tfds

    data_dir = None if data_dir is None else os.fspath(data_dir)
    try:
        return tfds.data_source(name, split=split, data_dir=data_dir, download=False)
    except Exception as err:
        where = data_dir or _default_data_dir()
        problem = _preparation_problem(name, where)
        if problem is None:
            raise
        base = name.partition(':')[0]
        builder = base.partition('/')[0]
        lines = [(f'TFDS dataset {name!r} (split {split!r}) cannot be read from data_dir '
                  f'{where!r}: {problem}. Nothing is downloaded at run time; prepare it once '
                  'with:'),
                 f'  tfds build {base} --data_dir={where} --file_format=array_record']
        if builder in _PREPARE_NOTES:
            lines.append(_PREPARE_NOTES[builder])
        raise DatasetNotPreparedError('\n'.join(lines)) from err


def probe_source(dataset: str, *, training: bool,
                 data_dir: str | os.PathLike | None = None) -> Any:
    """The train (``training``) or eval split of ``PROBE_DATASETS[dataset]`` (``tfds_source``)."""
    if dataset not in PROBE_DATASETS:
        raise ValueError(f'Unknown probe dataset {dataset!r}; known: {sorted(PROBE_DATASETS)} '
                         '(or call tfds_source with any TFDS name).')
    spec = PROBE_DATASETS[dataset]
    split = spec.train_split if training else spec.eval_split
    return tfds_source(spec.tfds_name, split, data_dir)


# --------------------------------------------------------------------------- transforms


def _as_int(name: str, value: object, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f'{name} must be an int >= {minimum}, got {value!r}.')
    return int(value)


def _check_image(image: object) -> np.ndarray:
    """uint8 ``[H, W]``, ``[H, W, 1]``, ``[H, W, 3]`` or ``[H, W, 4]`` -> ``[H, W, 3]``.

    Grey images are repeated to RGB and an alpha channel is dropped (as
    Pillow's ``convert('RGB')`` in the official loader).
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise TypeError('image must be a uint8 numpy array [H, W, 3], got '
                        f'{getattr(image, "dtype", type(image).__name__)}.')
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[-1] not in (1, 3, 4) or min(image.shape[:2]) < 1:
        raise ValueError(f'image must have shape [H, W, 3] (or 1 / 4 channels), got {image.shape}.')
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    return image[:, :, :3]


def _erase_box(height: int, width: int, rng: np.random.Generator) -> tuple[int, int, int, int] | None:
    """timm ``RandomErasing`` box (count 1): ``(top, left, h, w)``, or None after 10 misses."""
    area = height * width
    log_lo, log_hi = math.log(ERASE_RATIO[0]), math.log(ERASE_RATIO[1])
    for _ in range(ERASE_ATTEMPTS):
        target = rng.uniform(*ERASE_AREA) * area
        aspect = math.exp(rng.uniform(log_lo, log_hi))
        h = round(math.sqrt(target * aspect))
        w = round(math.sqrt(target / aspect))
        if w < width and h < height:  # strict, as timm
            top = int(rng.integers(0, height - h + 1))
            left = int(rng.integers(0, width - w + 1))
            return top, left, h, w
    return None


def _noise_pixels(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """uint8 ``[h, w, 3]`` whose device normalisation is ~N(0, 1) (timm's 'pixel' fill)."""
    z = rng.standard_normal((*shape, 3), dtype=np.float32)
    mean = np.asarray(IMAGENET_MEAN, np.float32)
    std = np.asarray(IMAGENET_STD, np.float32)
    return np.clip(np.rint(255.0 * (mean + std * z)), 0, 255).astype(np.uint8)


def train_transform(image: np.ndarray, rng: np.random.Generator, crop_size: int = 224,
                    scale: Sequence[float] = PROBE_SCALE, ratio: Sequence[float] = PROBE_RATIO,
                    flip_prob: float = 0.5, erase_prob: float = ERASE_PROB) -> np.ndarray:
    """Official image-probe training augmentation, less AutoAugment: uint8 ``[crop, crop, 3]``.

    ``image``: uint8 ``[H, W, 3]``. Random resized crop box
    (``transforms.random_resized_crop_box`` with ``scale`` / ``ratio``), Pillow
    bicubic resize of that box to ``crop_size``, horizontal flip with
    probability ``flip_prob``, then random erasing with probability
    ``erase_prob`` (module docstring). Draws from ``rng`` in that order: the
    box, one uniform for the flip, one uniform for erasing (always drawn), then
    the erasing box and its noise when erasing.
    """
    image = _check_image(image)
    crop_size = _as_int('crop_size', crop_size)
    for name, p in (('flip_prob', flip_prob), ('erase_prob', erase_prob)):
        if not (isinstance(p, numbers.Real) and 0.0 <= p <= 1.0):
            raise ValueError(f'{name} must be in [0, 1], got {p!r}.')
    height, width = image.shape[:2]
    top, left, h, w = transforms.random_resized_crop_box(height, width, rng, scale, ratio)
    flip = bool(rng.random() < flip_prob)
    erase = bool(rng.random() < erase_prob)
    pil = Image.fromarray(np.ascontiguousarray(image)).crop((left, top, left + w, top + h))
    out = np.asarray(pil.resize((crop_size, crop_size), Image.Resampling.BICUBIC))
    out = np.array(out[:, ::-1] if flip else out)  # writable, contiguous
    if erase:
        box = _erase_box(crop_size, crop_size, rng)
        if box is not None:
            et, el, eh, ew = box
            out[et:et + eh, el:el + ew] = _noise_pixels((eh, ew), rng)
    return out


def eval_transform(image: np.ndarray, crop_size: int = 224,
                   resize_size: int | None = None) -> np.ndarray:
    """Official image-probe evaluation view: uint8 ``[H, W, 3]`` -> ``[crop, crop, 3]``.

    Short side resized to ``resize_size`` (default ``int(crop_size * 256 / 224)``;
    long side truncated, as torchvision) with Pillow bilinear (antialiased, as
    the official PIL path); skipped when the short side already has that size.
    Then the centre ``crop_size`` crop (``transforms.center_crop`` rule).
    """
    image = _check_image(image)
    crop_size = _as_int('crop_size', crop_size)
    if resize_size is None:
        resize_size = int(crop_size * 256 / 224)
    resize_size = _as_int('resize_size', resize_size)
    height, width = image.shape[:2]
    if min(height, width) != resize_size:
        rh, rw = transforms.short_side_shape(height, width, resize_size)
        pil = Image.fromarray(np.ascontiguousarray(image))
        image = np.asarray(pil.resize((rw, rh), Image.Resampling.BILINEAR))
    return np.ascontiguousarray(transforms.center_crop(image[None], crop_size)[0])


def image_to_clip(image: np.ndarray, num_frames: int = OFFICIAL_NUM_FRAMES) -> np.ndarray:
    """Repeat images along a new time axis: ``[..., H, W, C]`` -> ``[..., T, H, W, C]``.

    One image ``[H, W, 3]`` becomes a static clip ``[T, H, W, 3]``; a batch
    ``[B, H, W, 3]`` becomes ``[B, T, H, W, 3]``. The official image probes
    repeat to 16 frames. Cheaper alternative: send images and let
    ``VisionTransformer.__call__`` (which accepts ``[B, H, W, C]``) repeat them
    on the device.
    """
    num_frames = _as_int('num_frames', num_frames)
    image = np.asarray(image)
    if image.ndim < 3:
        raise ValueError(f'image must be [..., H, W, C], got shape {image.shape}.')
    return np.repeat(np.expand_dims(image, -4), num_frames, axis=-4)


# --------------------------------------------------------------------------- datasets


def _label(example: Mapping[str, Any], key: str) -> int:
    return int(np.asarray(example[key]))


class _TrainElement:
    """Global position -> augmented example (per-element generator from ``random_map``)."""

    def __init__(self, source: Any, config: ImageConfig, image_key: str, label_key: str):
        self.source = source
        self.config = config
        self.image_key = image_key
        self.label_key = label_key

    def __call__(self, index: int, rng: np.random.Generator) -> dict[str, Any]:
        example = self.source[int(index)]
        c = self.config
        image = train_transform(example[self.image_key], rng, c.crop_size, c.scale, c.ratio,
                                c.flip_prob, c.erase_prob)
        return {'image': image, 'label': _label(example, self.label_key), 'index': int(index)}


class _EvalElement:
    """Global index -> centre view, or a ``valid=False`` zero image past the end."""

    def __init__(self, source: Any, config: ImageConfig, image_key: str, label_key: str):
        self.source = source
        self.config = config
        self.image_key = image_key
        self.label_key = label_key
        self.num_examples = len(source)

    def __call__(self, index: int) -> dict[str, Any]:
        c = self.config
        if index >= self.num_examples:
            return {'image': np.zeros((c.crop_size, c.crop_size, 3), np.uint8), 'label': 0,
                    'index': -1, 'valid': False}
        example = self.source[int(index)]
        image = eval_transform(example[self.image_key], c.crop_size, c.resize_size)
        return {'image': image, 'label': _label(example, self.label_key), 'index': int(index),
                'valid': True}


def _check_sharding(seed: int, process_index: int, process_count: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < 2**32:
        raise ValueError(f'seed must be an int in [0, 2**32), got {seed!r}.')
    if not (isinstance(process_count, numbers.Integral) and process_count >= 1
            and isinstance(process_index, numbers.Integral)
            and 0 <= process_index < process_count):
        raise ValueError(f'process_index {process_index!r} is not in [0, {process_count!r}).')


def image_dataset(source: Any, *, training: bool, config: ImageConfig = ImageConfig(),
                  seed: int = 0, process_index: int = 0, process_count: int = 1,
                  num_epochs: int | None = None, image_key: str = 'image',
                  label_key: str = 'label') -> grain.MapDataset:
    """This process's examples of ``source`` as a ``grain.MapDataset`` of dicts.

    ``source``: random access (``len``, ``source[i]`` -> dict with ``image_key``
    uint8 ``[H, W, 3]`` and ``label_key`` int), e.g. ``tfds_source``.
    Elements: ``'image'`` uint8 ``[crop, crop, 3]``, ``'label'`` int,
    ``'index'`` (the example's index in ``source``; -1 for padding) and, for
    evaluation, ``'valid'`` bool.

    ``training``: shuffled every epoch with ``seed``, repeated ``num_epochs``
    times (None: forever; a finite stream is cut to a multiple of
    ``process_count`` so all processes have the same length), augmented with
    ``train_transform`` (generator per global position), sliced
    ``process_index::process_count``. Otherwise: ``eval_transform`` of examples
    ``process_index::process_count`` in order, padded with ``valid=False``
    zero images to ``ceil(len(source) / process_count)`` (``num_epochs`` and
    ``seed`` unused).
    """
    _check_sharding(seed, process_index, process_count)
    n = len(source)
    if n < 1:
        raise ValueError('source is empty.')
    if training:
        if num_epochs is not None and (isinstance(num_epochs, bool) or num_epochs < 1):
            raise ValueError(f'num_epochs must be a positive int or None, got {num_epochs!r}.')
        ds = grain.MapDataset.range(n).shuffle(seed=seed).repeat(num_epochs)
        ds = ds.random_map(_TrainElement(source, config, image_key, label_key), seed=seed)
        if num_epochs is not None:
            ds = ds[:len(ds) // process_count * process_count]
    else:
        per_process = -(-n // process_count)
        ds = grain.MapDataset.range(per_process * process_count)
        ds = ds.map(_EvalElement(source, config, image_key, label_key))
    return ds[process_index::process_count]


class _Collate:
    """Stack elements; optionally pad a short batch with ``valid=False`` zeros; repeat to clips."""

    def __init__(self, batch_size: int, pad: bool, num_frames: int | None):
        self.batch_size = batch_size
        self.pad = pad
        self.num_frames = num_frames

    def __call__(self, elements: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
        images = np.stack([e['image'] for e in elements])
        labels = np.asarray([e['label'] for e in elements], np.int64)
        index = np.asarray([e.get('index', -1) for e in elements], np.int64)
        valid = np.asarray([e.get('valid', True) for e in elements], bool)
        missing = self.batch_size - len(elements)
        if self.pad and missing > 0:
            images = np.concatenate([images, np.zeros((missing, *images.shape[1:]), images.dtype)])
            labels = np.concatenate([labels, np.zeros(missing, np.int64)])
            index = np.concatenate([index, np.full(missing, -1, np.int64)])
            valid = np.concatenate([valid, np.zeros(missing, bool)])
        batch = {'label': labels, 'index': index}
        if self.num_frames is None:
            batch['image'] = images
        else:
            batch['video'] = image_to_clip(images, self.num_frames)
        if self.pad:
            batch['valid'] = valid
        return batch


def batch_images(ds: grain.MapDataset, batch_size: int, *, training: bool,
                 num_frames: int | None = None) -> grain.MapDataset:
    """Batches of ``image_dataset`` elements (``batch_size`` = this process's share).

    Each batch: ``'image'`` uint8 ``[B, H, W, 3]`` (or, with ``num_frames``,
    ``'video'`` uint8 ``[B, num_frames, H, W, 3]``, repeated on the host),
    ``'label'`` int64 ``[B]``, ``'index'`` int64 ``[B]`` (-1 for padding).
    ``training``: partial batches are dropped. Otherwise the last batch is
    padded with zero images, and ``'valid'`` bool ``[B]`` marks real examples
    (padding from ``image_dataset`` included), so evaluation has static
    shapes and counts every example exactly once.
    """
    batch_size = _as_int('batch_size', batch_size)
    if num_frames is not None:
        num_frames = _as_int('num_frames', num_frames)
    return ds.batch(batch_size, drop_remainder=training,
                    batch_fn=_Collate(batch_size, not training, num_frames))


def image_batches(source: Any, batch_size: int, *, training: bool,
                  config: ImageConfig = ImageConfig(), seed: int = 0, process_index: int = 0,
                  process_count: int = 1, num_epochs: int | None = None,
                  num_frames: int | None = None) -> grain.MapDataset:
    """``batch_images(image_dataset(source, ...), batch_size, ...)``: one process's batches.

    Random access by step (``ds[step]``); for throughput wrap it as
    ``pipeline.py`` does (``to_iter_dataset`` + ``mp_prefetch``). With
    ``training=False`` every process gets ``ceil(ceil(n / P) / batch_size)``
    batches.
    """
    ds = image_dataset(source, training=training, config=config, seed=seed,
                       process_index=process_index, process_count=process_count,
                       num_epochs=num_epochs)
    return batch_images(ds, batch_size, training=training, num_frames=num_frames)

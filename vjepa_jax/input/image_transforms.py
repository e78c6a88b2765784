"""Image-probe transforms on the host (uint8), by the official image-probe recipe.

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
  bicubic resize, flip and random erasing (``random_erasing.random_erase``
  with timm's 10 tries: the one erasing implementation, shared with the video
  probe); the erased box is filled on the host in uint8 with
  ``255 * (mean + std * z)``, rounded and clipped to [0, 255] (identical to
  the official noise after normalisation except for 8-bit rounding and the
  3-4% of draws that fall outside [0, 255] and are clipped).
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
``[B, H, W, C]`` and repeats to its ``num_frames`` itself.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import einops
import numpy as np
from PIL import Image

from vjepa_jax.input import transforms
from vjepa_jax.input.random_erasing import IMAGE_ATTEMPTS, random_erase

PROBE_SCALE = (0.08, 1.0)          # timm RandomResizedCropAndInterpolation default scale
PROBE_RATIO = (3.0 / 4.0, 4.0 / 3.0)  # timm default ratio
ERASE_PROB = 0.25                  # official re_prob
OFFICIAL_NUM_FRAMES = 16           # official image probes: frames_per_clip


def int_at_least(name: str, value: object, minimum: int = 1) -> int:
    """``value`` as an int, or a ValueError naming ``name`` when it is not an int >= ``minimum``."""
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


def train_transform(image: np.ndarray, rng: np.random.Generator, crop_size: int = 224,
                    scale: Sequence[float] = PROBE_SCALE, ratio: Sequence[float] = PROBE_RATIO,
                    flip_prob: float = 0.5, erase_prob: float = ERASE_PROB) -> np.ndarray:
    """Official image-probe training augmentation, less AutoAugment: uint8 ``[crop, crop, 3]``.

    ``image``: uint8 ``[H, W, 3]``. Random resized crop box
    (``transforms.random_resized_crop_box`` with ``scale`` / ``ratio``), Pillow
    bicubic resize of that box to ``crop_size``, horizontal flip with
    probability ``flip_prob``, then timm's random erasing with probability
    ``erase_prob`` (``random_erasing.random_erase``, 10 tries). Draws from
    ``rng`` in that order: the box, one uniform for the flip, one uniform for
    erasing (always drawn), then the erasing box and its noise when erasing.
    """
    image = _check_image(image)
    crop_size = int_at_least('crop_size', crop_size)
    for name, p in (('flip_prob', flip_prob), ('erase_prob', erase_prob)):
        if not (isinstance(p, numbers.Real) and 0.0 <= p <= 1.0):
            raise ValueError(f'{name} must be in [0, 1], got {p!r}.')
    height, width = image.shape[:2]
    top, left, h, w = transforms.random_resized_crop_box(height, width, rng, scale, ratio)
    flip = bool(rng.random() < flip_prob)
    pil = Image.fromarray(np.ascontiguousarray(image)).crop((left, top, left + w, top + h))
    out = np.asarray(pil.resize((crop_size, crop_size), Image.Resampling.BICUBIC))
    out = np.array(out[:, ::-1] if flip else out)  # writable, contiguous
    return random_erase(out, rng, erase_prob, attempts=IMAGE_ATTEMPTS)


def eval_transform(image: np.ndarray, crop_size: int = 224,
                   resize_size: int | None = None) -> np.ndarray:
    """Official image-probe evaluation view: uint8 ``[H, W, 3]`` -> ``[crop, crop, 3]``.

    Short side resized to ``resize_size`` (default ``int(crop_size * 256 / 224)``;
    long side truncated, as torchvision) with Pillow bilinear (antialiased, as
    the official PIL path); skipped when the short side already has that size.
    Then the centre ``crop_size`` crop (``transforms.center_crop`` rule).
    """
    image = _check_image(image)
    crop_size = int_at_least('crop_size', crop_size)
    if resize_size is None:
        resize_size = int(crop_size * 256 / 224)
    resize_size = int_at_least('resize_size', resize_size)
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
    num_frames = int_at_least('num_frames', num_frames)
    image = np.asarray(image)
    if image.ndim < 3:
        raise ValueError(f'image must be [..., H, W, C], got shape {image.shape}.')
    return einops.repeat(image, '... h w c -> ... t h w c', t=num_frames)

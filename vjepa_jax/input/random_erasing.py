"""Random erasing (Zhong et al. 2017) of uint8 images and clips, as the official probes use it.

One implementation, :func:`random_erase`, serves both official call sites; they differ
only in how many boxes are tried before giving up:

* video probe (``evals/video_classification_frozen``: jepa's
  ``src/datasets/utils/video/randerase.py``, ``RandomErasing(reprob, mode='pixel',
  max_count=1, num_splits=1)`` on a ``[T, C, H, W]`` clip, ``cube=True``): one box for
  the whole clip, up to :data:`VIDEO_ATTEMPTS` (100) tries, fresh noise in every frame.
  :func:`random_erase_clip` is this call site.
* image probe (``evals/image_classification_frozen``: timm's ``RandomErasing`` made by
  ``create_transform(re_prob=0.25, re_mode='pixel', re_count=1)``): one box per image,
  up to :data:`IMAGE_ATTEMPTS` (10) tries. ``image_transforms.train_transform`` calls
  ``random_erase(image, rng, prob, attempts=IMAGE_ATTEMPTS)``.

The rule both share: with probability ``prob``, draw a box whose area is a fraction
uniform in ``area`` (0.02 to 1/3) of the image and whose aspect ``h / w`` is log-uniform
in ``[min_aspect, 1 / min_aspect]`` (0.3); ``h = round(sqrt(area * aspect))``, ``w =
round(sqrt(area / aspect))``; the box is kept when ``h < H`` and ``w < W`` (strictly),
otherwise drawn again, and nothing is erased after ``attempts`` misses. Its corner is
uniform over every position where it fits. The box is filled with per-pixel N(0, 1)
noise in the normalised space; here everything stays uint8 on the host, so the noise is
stored as ``255 * (mean + std * z)`` rounded and clipped to [0, 255] (what the device
normalisation turns back into ``z``, up to 8-bit rounding and the 3-4 % of draws that
are clipped).

Draws from ``rng``, in order: one uniform for the probability; per try an area fraction
and a log-aspect (uniforms); for the kept box its top and left (integers) and the noise
(``standard_normal`` of shape ``[..., h, w, 3]``, float32). Deviation: a draw equal to
``prob`` exactly does not erase (the official ``random() > prob`` skip would), so
``prob=0`` never erases.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from vjepa_jax.errors import ConfigError
from vjepa_jax.input.normalize import IMAGENET_MEAN, IMAGENET_STD

ERASE_AREA = (0.02, 1.0 / 3.0)  # official min_area, max_area (both call sites)
ERASE_MIN_ASPECT = 0.3          # official min_aspect; max_aspect = 1 / min_aspect
VIDEO_ATTEMPTS = 100            # jepa randerase.py, cube erasing of a clip
IMAGE_ATTEMPTS = 10             # timm RandomErasing, one image


def _check(pixels: np.ndarray, prob: float, area: tuple[float, float], min_aspect: float,
           attempts: int) -> None:
    if not isinstance(pixels, np.ndarray) or pixels.dtype != np.uint8 or pixels.ndim < 3 \
            or pixels.shape[-1] != 3:
        raise ConfigError('random erasing needs uint8 RGB pixels [..., H, W, 3], got '
                          f'{getattr(pixels, "dtype", type(pixels).__name__)} '
                          f'{getattr(pixels, "shape", "")}.')
    if not (isinstance(prob, numbers.Real) and 0.0 <= prob <= 1.0):
        raise ConfigError(f'the random erasing probability must be in [0, 1], got {prob!r}.')
    lo, hi = area
    if not 0.0 < lo <= hi <= 1.0:
        raise ConfigError(f'the erased area fraction range must satisfy 0 < lo <= hi <= 1, '
                          f'got {area!r}.')
    if not 0.0 < min_aspect <= 1.0:
        raise ConfigError(f'min_aspect must be in (0, 1], got {min_aspect!r}.')
    if isinstance(attempts, bool) or not isinstance(attempts, numbers.Integral) or attempts < 1:
        raise ConfigError(f'attempts must be an int >= 1, got {attempts!r}.')


def _noise(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """uint8 ``[..., 3]`` noise whose device normalisation is ~N(0, 1) (the 'pixel' fill)."""
    z = rng.standard_normal((*shape, 3), dtype=np.float32)
    mean = np.asarray(IMAGENET_MEAN, np.float32)
    std = np.asarray(IMAGENET_STD, np.float32)
    return np.clip(np.rint(255.0 * (mean + std * z)), 0, 255).astype(np.uint8)


def random_erase(pixels: np.ndarray, rng: np.random.Generator, prob: float,
                 area: tuple[float, float] = ERASE_AREA, min_aspect: float = ERASE_MIN_ASPECT,
                 attempts: int = IMAGE_ATTEMPTS) -> np.ndarray:
    """Erase one box of uint8 ``[..., H, W, 3]`` pixels with probability ``prob``.

    The same box covers every leading index (every frame of a clip ``[T, H, W, 3]``);
    each pixel of every frame gets its own noise. Parameters and draws: module
    docstring. Returns ``pixels`` itself when nothing is erased, else an erased copy.
    """
    _check(pixels, prob, area, min_aspect, attempts)
    if not rng.random() < prob:
        return pixels
    height, width = pixels.shape[-3:-1]
    log_lo, log_hi = math.log(min_aspect), math.log(1.0 / min_aspect)
    for _ in range(attempts):
        target = rng.uniform(*area) * height * width
        aspect = math.exp(rng.uniform(log_lo, log_hi))
        h, w = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if w < width and h < height:
            top, left = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))
            out = pixels.copy()
            out[..., top:top + h, left:left + w, :] = _noise((*pixels.shape[:-3], h, w), rng)
            return out
    return pixels


def random_erase_clip(clip: np.ndarray, rng: np.random.Generator, prob: float = 0.25,
                      area: tuple[float, float] = ERASE_AREA,
                      min_aspect: float = ERASE_MIN_ASPECT,
                      attempts: int = VIDEO_ATTEMPTS) -> np.ndarray:
    """The official video-probe erasing (``mode='pixel'``, ``cube=True``) of uint8 ``[T, H, W, 3]``.

    With probability ``prob`` (official ``reprob`` 0.25) one box for the whole clip,
    up to ``attempts`` (100) tries, filled per pixel and frame with noise
    (:func:`random_erase`).
    """
    if getattr(clip, 'ndim', None) != 4:
        raise ConfigError(f'random_erase_clip needs a clip [T, H, W, 3], got shape '
                          f'{getattr(clip, "shape", None)}.')
    return random_erase(clip, rng, prob, area, min_aspect, attempts)

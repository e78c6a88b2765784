"""Official probe video augmentations on uint8 clips: RandAugment and random erasing.

``rand_augment_clip`` (``rand-m7-n4-mstd0.5-inc1``, the same ops for every
frame of a clip) and ``random_erase_clip`` (one box for the whole clip,
per-pixel normal noise), used by the probe's training clips
(``vjepa_jax.input.probe_clips.train_transform``). Erased pixels are normal
noise in the normalised space mapped back to uint8, so the noise is quantised
and clipped to [0, 255] (3-4 % of values, depending on the channel).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from vjepa_jax.input.normalize import IMAGENET_MEAN, IMAGENET_STD

RAND_AUGMENT_OPS = ('AutoContrast', 'Equalize', 'Invert', 'Rotate', 'PosterizeIncreasing',
                    'SolarizeIncreasing', 'SolarizeAdd', 'ColorIncreasing', 'ContrastIncreasing',
                    'BrightnessIncreasing', 'SharpnessIncreasing', 'ShearX', 'ShearY',
                    'TranslateXRel', 'TranslateYRel')
_FILL = (128, 128, 128)
_MAX_LEVEL = 10.0


def _signed(rng: np.random.Generator, value: float) -> float:
    return -value if rng.random() > 0.5 else value


def _affine(coeffs: Callable[[Image.Image], tuple]) -> Callable[[Image.Image], Image.Image]:
    return lambda im: im.transform(im.size, Image.AFFINE, coeffs(im), resample=Image.BICUBIC,
                                   fillcolor=_FILL)


def _clip_op(name: str, level: float, rng: np.random.Generator
             ) -> Callable[[Image.Image], Image.Image]:
    """A frame transform whose arguments are drawn once here, so every frame gets the same op."""
    f = level / _MAX_LEVEL
    if name in ('AutoContrast', 'Equalize', 'Invert'):
        return {'AutoContrast': ImageOps.autocontrast, 'Equalize': ImageOps.equalize,
                'Invert': ImageOps.invert}[name]
    if name == 'Rotate':
        degrees = _signed(rng, f * 30.0)
        return lambda im: im.rotate(degrees, resample=Image.BICUBIC, fillcolor=_FILL)
    if name == 'PosterizeIncreasing':
        bits = 4 - int(f * 4)
        return lambda im: ImageOps.posterize(im, bits)
    if name == 'SolarizeIncreasing':
        threshold = 256 - int(f * 256)
        return lambda im: ImageOps.solarize(im, threshold)
    if name == 'SolarizeAdd':
        add = int(f * 110)
        lut = [min(255, i + add) if i < 128 else i for i in range(256)] * 3
        return lambda im: im.point(lut)
    if name.endswith('Increasing'):  # Color, Contrast, Brightness, Sharpness
        factor = 1.0 + _signed(rng, f * 0.9)
        enhancer = getattr(ImageEnhance, name[:-len('Increasing')])
        return lambda im: enhancer(im).enhance(factor)
    if name in ('ShearX', 'ShearY'):
        s = _signed(rng, f * 0.3)
        return _affine(lambda im: (1, s, 0, 0, 1, 0) if name == 'ShearX' else (1, 0, 0, s, 1, 0))
    if name in ('TranslateXRel', 'TranslateYRel'):
        pct = _signed(rng, f * 0.45)
        return _affine(lambda im: (1, 0, pct * im.size[0], 0, 1, 0) if name == 'TranslateXRel'
                       else (1, 0, 0, 0, 1, pct * im.size[1]))
    raise ValueError(f'unknown RandAugment op {name!r}')


def rand_augment_clip(clip: np.ndarray, rng: np.random.Generator, magnitude: float = 7.0,
                      num_ops: int = 4, magnitude_std: float = 0.5,
                      prob: float = 0.5) -> np.ndarray:
    """Official video RandAugment (``rand-m7-n4-mstd0.5-inc1``) of uint8 ``[T, H, W, 3]``.

    ``num_ops`` ops drawn uniformly with replacement from ``RAND_AUGMENT_OPS``;
    each applies with probability ``prob`` at a magnitude drawn from
    ``N(magnitude, magnitude_std)`` clipped to [0, 10]. Arguments are drawn once
    per clip, so all frames get the same transformation.
    """
    ops = []
    for i in rng.integers(0, len(RAND_AUGMENT_OPS), num_ops):
        if rng.random() > prob:
            continue
        level = rng.normal(magnitude, magnitude_std) if magnitude_std > 0 else magnitude
        ops.append(_clip_op(RAND_AUGMENT_OPS[i], min(_MAX_LEVEL, max(0.0, level)), rng))
    if not ops:
        return clip
    out = np.empty_like(clip)
    for t, frame in enumerate(clip):
        image = Image.fromarray(frame)
        for op in ops:
            image = op(image)
        out[t] = np.asarray(image)
    return out


def random_erase_clip(clip: np.ndarray, rng: np.random.Generator, prob: float = 0.25,
                      area: tuple[float, float] = (0.02, 1 / 3), min_aspect: float = 0.3,
                      attempts: int = 100) -> np.ndarray:
    """Official ``RandomErasing(mode='pixel', cube=True)`` of uint8 ``[T, H, W, 3]``.

    With probability ``prob``: one box (area fraction uniform in ``area``, aspect
    log-uniform in ``[min_aspect, 1 / min_aspect]``) for the whole clip, filled
    per pixel and frame with normal noise of the normalised space, stored as uint8.
    """
    if rng.random() > prob:
        return clip
    t, h, w, _ = clip.shape
    log_lo, log_hi = math.log(min_aspect), math.log(1.0 / min_aspect)
    for _ in range(attempts):
        target = rng.uniform(*area) * h * w
        aspect = math.exp(rng.uniform(log_lo, log_hi))
        eh, ew = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if ew < w and eh < h:
            top, left = int(rng.integers(0, h - eh + 1)), int(rng.integers(0, w - ew + 1))
            z = rng.standard_normal((t, eh, ew, 3), dtype=np.float32)
            noise = (np.asarray(IMAGENET_MEAN, np.float32) + z * np.asarray(IMAGENET_STD,
                                                                          np.float32)) * 255.0
            clip = clip.copy()
            clip[:, top:top + eh, left:left + ew] = np.clip(np.rint(noise), 0, 255)
            break
    return clip

"""Host-side clip transforms: uint8 ``[T, H, W, 3]`` in, uint8 out.

Pretraining (official ``app/vjepa/transforms.py`` with the recipe's
``data_aug``): one random-resized-crop box per clip, the same for every frame
(area fraction uniform in ``scale = (0.3, 1.0)``, aspect ratio w/h log-uniform
in ``ratio = (0.75, 1.35)``, torchvision-style: 10 attempts, then a centre crop
clamped to the ratio range), resized to ``crop_size`` with bilinear
interpolation, then a horizontal flip with probability 0.5.

Resizing is bilinear with half-pixel centres and **no antialiasing**: the
official pretraining calls ``torch.nn.functional.interpolate(mode='bilinear',
align_corners=False)`` on float frames and the official evaluation calls
``cv2.resize(INTER_LINEAR)`` on uint8 frames; both sample the two nearest
source pixels per axis, even when downscaling. ``resize_clip`` computes the same
in 8-bit fixed point with NumPy (within 2 grey levels of the float result, 0.3
on average; see ``_resize``). Pillow's ``BILINEAR`` is not used: it widens its
filter when downscaling (antialiasing), which the official pipelines do not
do, and it is about twice as slow here.

Evaluation (official ``evals/video_classification_frozen/utils.py``): one view
= short side resized to ``int(crop_size * 256 / 224)`` then a centre crop;
several views = short side resized to ``crop_size`` then views spaced along the
long side (``spatial_views``).

Randomness comes only from the ``np.random.Generator`` passed in (the official
code mixes Python's ``random`` and NumPy's global generator).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

PRETRAIN_SCALE = (0.3, 1.0)    # official configs/pretrain/*.yaml random_resize_scale
PRETRAIN_RATIO = (0.75, 1.35)  # official configs/pretrain/*.yaml random_resize_aspect_ratio
MAX_ATTEMPTS = 10              # official _get_param_spatial_crop num_repeat

Box = tuple[int, int, int, int]  # (top, left, height, width) in pixels


def _check_clip(clip: object) -> np.ndarray:
    if not isinstance(clip, np.ndarray):
        raise TypeError('clip must be a numpy uint8 array [T, H, W, 3], got '
                        f'{type(clip).__name__}.')
    if clip.dtype != np.uint8:
        raise ValueError(f'clip must be uint8 [T, H, W, 3], got dtype {clip.dtype} (convert '
                         'floats back to uint8 before the host transforms).')
    if clip.ndim != 4 or clip.shape[-1] != 3 or min(clip.shape[:3]) < 1:
        raise ValueError(f'clip must have shape [T, H, W, 3] with T, H, W >= 1, got {clip.shape}.')
    return clip


def _as_int(name: str, value: object, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f'{name} must be an int >= {minimum}, got {value!r}.')
    return int(value)


def _as_size(name: str, size: int | Sequence[int]) -> tuple[int, int]:
    """``size`` or ``(height, width)`` -> ``(height, width)``."""
    if isinstance(size, numbers.Integral) and not isinstance(size, bool):
        return _as_int(name, size), _as_int(name, size)
    if isinstance(size, Sequence) and not isinstance(size, str) and len(size) == 2:
        return _as_int(name, size[0]), _as_int(name, size[1])
    raise ValueError(f'{name} must be an int or (height, width), got {size!r}.')


def _as_range(name: str, r: Sequence[float]) -> tuple[float, float]:
    try:
        lo, hi = (float(x) for x in r)
    except (TypeError, ValueError):
        raise ValueError(f'{name} must be (low, high), got {r!r}.') from None
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo <= hi):
        raise ValueError(f'{name} must satisfy 0 < low <= high, got {r!r}.')
    return lo, hi


def _check_rng(rng: object) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f'rng must be a numpy.random.Generator, got {type(rng).__name__}.')
    return rng


def random_resized_crop_box(height: int, width: int, rng: np.random.Generator,
                            scale: Sequence[float] = PRETRAIN_SCALE,
                            ratio: Sequence[float] = PRETRAIN_RATIO,
                            max_attempts: int = MAX_ATTEMPTS) -> Box:
    """One ``(top, left, h, w)`` box in an ``height x width`` frame (official rule).

    Each attempt draws an area fraction uniformly in ``scale`` and an aspect
    ratio ``w / h`` log-uniformly in ``ratio``, rounds ``w = sqrt(area * r)``,
    ``h = sqrt(area / r)`` to ints (round half to even, as Python's ``round``)
    and accepts the box if it fits, at a uniform position. After
    ``max_attempts`` misses: the largest centred box whose ratio is clamped to
    ``ratio`` (the whole frame when the frame's ratio is inside the range).
    """
    height, width = _as_int('height', height), _as_int('width', width)
    _check_rng(rng)
    s_lo, s_hi = _as_range('scale', scale)
    r_lo, r_hi = _as_range('ratio', ratio)
    max_attempts = _as_int('max_attempts', max_attempts, 0)
    area = height * width
    log_lo, log_hi = math.log(r_lo), math.log(r_hi)
    for _ in range(max_attempts):
        target_area = area * rng.uniform(s_lo, s_hi)
        aspect = math.exp(rng.uniform(log_lo, log_hi))
        w = round(math.sqrt(target_area * aspect))
        h = round(math.sqrt(target_area / aspect))
        if 0 < w <= width and 0 < h <= height:
            top = int(rng.integers(0, height - h + 1))
            left = int(rng.integers(0, width - w + 1))
            return top, left, h, w
    in_ratio = width / height
    if in_ratio < r_lo:
        w, h = width, round(width / r_lo)
    elif in_ratio > r_hi:
        w, h = round(height * r_hi), height
    else:
        w, h = width, height
    # A degenerate frame (e.g. 1 pixel high) can round a side to 0.
    h, w = max(h, 1), max(w, 1)
    return (height - h) // 2, (width - w) // 2, h, w


def _check_box(box: Sequence[int], height: int, width: int) -> Box:
    if not isinstance(box, Sequence) or len(box) != 4:
        raise ValueError(f'box must be (top, left, height, width), got {box!r}.')
    top, left = _as_int('box top', box[0], 0), _as_int('box left', box[1], 0)
    h, w = _as_int('box height', box[2]), _as_int('box width', box[3])
    if top + h > height or left + w > width:
        raise ValueError(f'box {tuple(box)} (top, left, height, width) does not fit in a '
                         f'{height}x{width} frame.')
    return top, left, h, w


def _axis_taps(n_in: int, n_out: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear taps of one axis: indices ``i0, i1``, uint16 weights summing to 256, rounding.

    Half-pixel centres (torch ``align_corners=False``, cv2 ``INTER_LINEAR``):
    output pixel ``o`` samples ``(o + 0.5) * n_in / n_out - 0.5``, clamped to
    the edge pixels, so no pixel outside the box is ever read. The rounding
    constant alternates 128 / 127 over outputs, so exact halves (frequent at
    simple scale ratios such as 3:2) round up and down equally: no net bias.
    """
    src = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
    src = np.clip(src, 0.0, n_in - 1)
    i0 = np.floor(src).astype(np.intp)
    i1 = np.minimum(i0 + 1, n_in - 1)
    w1 = np.round((src - i0) * 256).astype(np.uint16)
    half = (128 - np.arange(n_out) % 2).astype(np.uint16)
    return i0, i1, 256 - w1, w1, half


def _resize(crop: np.ndarray, size: tuple[int, int], flip: bool,
            window: Box | None = None) -> np.ndarray:
    """Bilinear resize of uint8 ``[T, h, w, 3]`` to ``size``; uint8 ``[T, wh, ww, 3]``.

    Only the output ``window`` ``(top, left, wh, ww)`` of the full ``size``
    grid is computed (default: all of it), so resize-then-crop costs the crop.

    Fixed point, one frame at a time: per axis ``(a * w0 + b * w1 + half) >> 8``
    with ``w0 + w1 = 256`` and ``half`` 128 or 127 (``_axis_taps``), so every
    sum fits uint16 (``255 * 256 + 128``); the horizontal result is rounded to
    uint8 before the vertical pass. Versus the float result: under 2 grey
    levels off (two roundings plus 8-bit weights), about 0.3 on average, no
    bias. Per-frame scratch buffers stay in cache and are reused; whole-clip
    temporaries cost more in fresh-page faults than in arithmetic.
    """
    t, h, w, _ = crop.shape
    top, left, out_h, out_w = (0, 0) + size if window is None else window
    if crop.strides[-2:] != (3, 1):
        crop = np.ascontiguousarray(crop)
    rows_in = crop.reshape(t, h, w * 3)  # a view: pixels are 3 contiguous bytes
    x0, x1, wx0, wx1, half_x = (a[left:left + out_w] for a in _axis_taps(w, size[1]))
    if flip:  # mirroring the output only reverses the column taps
        x0, x1, wx0, wx1, half_x = (a[::-1] for a in (x0, x1, wx0, wx1, half_x))
    # Column taps as byte offsets within a row: np.take's 1-byte path is the
    # fastest gather NumPy has (a [..., 3] or 3-byte-record gather is slower).
    lanes = np.arange(3)
    bx0, bx1 = ((3 * x[:, None] + lanes).ravel() for x in (x0, x1))
    wx0, wx1, half_x = (np.repeat(a, 3) for a in (wx0, wx1, half_x))
    y0, y1, wy0, wy1, half_y = (a[top:top + out_h] for a in _axis_taps(h, size[0]))
    wy0, wy1, half_y = wy0[:, None], wy1[:, None], half_y[:, None]

    out = np.empty((t, out_h, out_w * 3), np.uint8)
    px = np.empty((h, out_w * 3), np.uint8)
    acc_h, tmp_h = np.empty((h, out_w * 3), np.uint16), np.empty((h, out_w * 3), np.uint16)
    mid = np.empty((h, out_w * 3), np.uint8)
    rows = np.empty((out_h, out_w * 3), np.uint8)
    acc_v, tmp_v = np.empty((out_h, out_w * 3), np.uint16), np.empty((out_h, out_w * 3), np.uint16)
    for i in range(t):
        frame = rows_in[i]
        # mode='clip' (indices are in range anyway) avoids np.take's buffered out=.
        np.take(frame, bx0, axis=1, out=px, mode='clip')
        np.multiply(px, wx0, out=acc_h)
        np.take(frame, bx1, axis=1, out=px, mode='clip')
        np.multiply(px, wx1, out=tmp_h)
        np.add(acc_h, tmp_h, out=acc_h)
        np.add(acc_h, half_x, out=acc_h)
        np.right_shift(acc_h, 8, out=mid, casting='unsafe')
        np.take(mid, y0, axis=0, out=rows, mode='clip')
        np.multiply(rows, wy0, out=acc_v)
        np.take(mid, y1, axis=0, out=rows, mode='clip')
        np.multiply(rows, wy1, out=tmp_v)
        np.add(acc_v, tmp_v, out=acc_v)
        np.add(acc_v, half_y, out=acc_v)
        np.right_shift(acc_v, 8, out=out[i], casting='unsafe')
    return out.reshape(t, out_h, out_w, 3)


def resize_clip(clip: np.ndarray, size: int | Sequence[int], box: Sequence[int] | None = None,
                flip: bool = False) -> np.ndarray:
    """Crop ``box`` of every frame and resize it bilinearly: uint8 ``[T, size_h, size_w, 3]``.

    ``clip``: uint8 ``[T, H, W, 3]``; ``box``: ``(top, left, h, w)``, default
    the whole frame; ``flip``: mirror the output horizontally (free: it only
    reverses the column taps). Bilinear without antialiasing, as the official
    code (module docstring); every frame uses the same box. A box already of
    the output size is copied exactly (mirrored if ``flip``).
    """
    clip = _check_clip(clip)
    height, width = clip.shape[1:3]
    size = _as_size('size', size)
    top, left, h, w = (0, 0, height, width) if box is None else _check_box(box, height, width)
    crop = clip[:, top:top + h, left:left + w]
    if (h, w) == size and not flip:
        return np.ascontiguousarray(crop)
    return _resize(crop, size, bool(flip))  # exact when (h, w) == size: weights 256 / 0


def pretrain_transform(clip: np.ndarray, rng: np.random.Generator,
                       crop_size: int | Sequence[int] = 224,
                       scale: Sequence[float] = PRETRAIN_SCALE,
                       ratio: Sequence[float] = PRETRAIN_RATIO,
                       flip_prob: float = 0.5) -> np.ndarray:
    """Official pretraining augmentation: uint8 ``[T, H, W, 3]`` -> ``[T, crop_h, crop_w, 3]``.

    One ``random_resized_crop_box`` for the whole clip, bilinear resize to
    ``crop_size``, then a horizontal flip of the whole clip with probability
    ``flip_prob``. Draws from ``rng`` in that order (the box draws, then one
    uniform number for the flip, drawn even when ``flip_prob`` is 0 or 1).
    """
    clip = _check_clip(clip)
    size = _as_size('crop_size', crop_size)
    _check_rng(rng)
    if not (isinstance(flip_prob, numbers.Real) and 0.0 <= flip_prob <= 1.0):
        raise ValueError(f'flip_prob must be in [0, 1], got {flip_prob!r}.')
    box = random_resized_crop_box(clip.shape[1], clip.shape[2], rng, scale, ratio)
    flip = bool(rng.random() < flip_prob)
    return resize_clip(clip, size, box=box, flip=flip)


def short_side_shape(height: int, width: int, size: int) -> tuple[int, int]:
    """``(h, w)`` with the short side ``size``; the long side is truncated (official rule)."""
    height, width, size = _as_int('height', height), _as_int('width', width), _as_int('size', size)
    if width < height:
        return int(size * height / width), size
    return size, int(size * width / height)


def short_side_resize(clip: np.ndarray, size: int) -> np.ndarray:
    """Resize uint8 ``[T, H, W, 3]`` so the short side is ``size``, keeping the aspect.

    Returns ``clip`` itself when the short side already is ``size`` (as the
    official ``Resize``).
    """
    clip = _check_clip(clip)
    size = _as_int('size', size)
    height, width = clip.shape[1:3]
    if min(height, width) == size:
        return clip
    return resize_clip(clip, short_side_shape(height, width, size))


def _centre_offset(length: int, crop: int) -> int:
    # Official CenterCrop: int(round((length - crop) / 2.)), Python's round
    # (half to even), so an odd margin of 2k + 1 starts at the even one of k, k + 1.
    return round((length - crop) / 2.0)


def center_crop(clip: np.ndarray, size: int | Sequence[int]) -> np.ndarray:
    """Centre crop of uint8 ``[T, H, W, 3]`` to ``[T, size_h, size_w, 3]`` (a view)."""
    clip = _check_clip(clip)
    out_h, out_w = _as_size('size', size)
    height, width = clip.shape[1:3]
    if out_h > height or out_w > width:
        raise ValueError(f'crop {out_h}x{out_w} is larger than the {height}x{width} frames.')
    top, left = _centre_offset(height, out_h), _centre_offset(width, out_w)
    return clip[:, top:top + out_h, left:left + out_w]


def spatial_views(clip: np.ndarray, size: int, num_views: int) -> np.ndarray:
    """``num_views`` square crops along the long side: uint8 ``[V, T, size, size, 3]``.

    Official ``EvalVideoTransform`` (after its resize of the short side to
    ``size``): view ``i`` starts at ``i * ((long - size) // (num_views - 1))``
    along the long side (the height when ``H > W``, else the width), so the
    first view touches the start and the last ends within ``num_views - 2``
    pixels of the end. Along the short side the crop is centred (a no-op when
    it equals ``size``, the official case). ``num_views=1``: the centre crop.
    """
    clip = _check_clip(clip)
    size, num_views = _as_int('size', size), _as_int('num_views', num_views)
    height, width = clip.shape[1:3]
    if size > min(height, width):
        raise ValueError(f'views of {size}x{size} do not fit in {height}x{width} frames; resize '
                         f'the short side to {size} first (short_side_resize).')
    if num_views == 1:
        return np.ascontiguousarray(center_crop(clip, size)[None])
    along_h = height > width
    step = (max(height, width) - size) // (num_views - 1)
    views = []
    for i in range(num_views):
        if along_h:
            left = _centre_offset(width, size)
            views.append(clip[:, i * step:i * step + size, left:left + size])
        else:
            top = _centre_offset(height, size)
            views.append(clip[:, top:top + size, i * step:i * step + size])
    return np.stack(views)


def three_crop(clip: np.ndarray, size: int) -> np.ndarray:
    """The official 3 evaluation views along the long side: uint8 ``[3, T, size, size, 3]``.

    Start, middle and end (within 1 pixel) of the long side; see ``spatial_views``.
    """
    return spatial_views(clip, size, 3)


def eval_transform(clip: np.ndarray, crop_size: int = 224, num_views: int = 1) -> np.ndarray:
    """Official frozen-evaluation views of uint8 ``[T, H, W, 3]``: ``[V, T, crop, crop, 3]``.

    ``num_views == 1``: short side to ``int(crop_size * 256 / 224)``, then the
    centre ``crop_size`` crop (official ``VideoTransform`` eval path).
    ``num_views > 1``: short side to ``crop_size``, then ``spatial_views``
    (official ``EvalVideoTransform``; note: no 256/224 enlargement there).
    """
    clip = _check_clip(clip)
    crop_size, num_views = _as_int('crop_size', crop_size), _as_int('num_views', num_views)
    if num_views == 1:
        short = int(crop_size * 256 / 224)
        height, width = clip.shape[1:3]
        if min(height, width) == short:
            return np.ascontiguousarray(center_crop(clip, crop_size)[None])
        # Resize-then-crop, computing only the cropped output pixels.
        rh, rw = short_side_shape(height, width, short)
        window = (_centre_offset(rh, crop_size), _centre_offset(rw, crop_size),
                  crop_size, crop_size)
        return _resize(clip, (rh, rw), False, window)[None]
    return spatial_views(short_side_resize(clip, crop_size), crop_size, num_views)

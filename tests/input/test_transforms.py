"""Host clip transforms: official crop-box sampling, bilinear resize, flips, eval views."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from vjepa_jax.input import transforms as tr


def random_clip(rng, t=3, h=37, w=53):
    return rng.integers(0, 256, (t, h, w, 3), dtype=np.uint8)


def coded_clip(t=2, h=41, w=59):
    """Pixel (y, x) of frame f holds (y, x, f): crops can be located exactly."""
    y, x = np.meshgrid(np.arange(h), np.arange(w), indexing='ij')
    frames = [np.stack([y, x, np.full_like(y, f)], axis=-1) for f in range(t)]
    return np.stack(frames).astype(np.uint8)


def bilinear_reference(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Float64 bilinear, half-pixel centres, no antialiasing, as interpolation matrices.

    Written independently of the gather kernel under test: ``out = Ry @ frame @ Rx.T``.
    """
    def matrix(n_in, n_out):
        src = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        lo = np.floor(src).astype(int)
        hi = np.minimum(lo + 1, n_in - 1)
        m = np.zeros((n_out, n_in))
        np.add.at(m, (np.arange(n_out), lo), 1 - (src - lo))
        np.add.at(m, (np.arange(n_out), hi), src - lo)
        return m
    ry, rx = matrix(frames.shape[1], size[0]), matrix(frames.shape[2], size[1])
    return np.einsum('oh,thwc,pw->topc', ry, frames.astype(np.float64), rx, optimize=True)


def assert_close_to_float(ours: np.ndarray, ref: np.ndarray):
    # Tolerance: two roundings to uint8 (0.5 each) plus 8-bit weights per axis
    # (up to 255 / 512 each) bound the error below 2 grey levels; on random
    # data the mean |error| is about 0.3 and the mean error about 0.
    err = ours.astype(np.float64) - ref
    assert np.abs(err).max() < 2.0, np.abs(err).max()
    assert np.abs(err).mean() < 0.4 and abs(err.mean()) < 0.1, (np.abs(err).mean(), err.mean())


# ----------------------------------------------------------------------------- crop boxes


def test_box_draws_uniform_area_and_log_uniform_ratio():
    # A frame where every first attempt fits (w, h <= sqrt(0.5 * 1.35) * 1000 < 1000),
    # so the boxes show the raw draws: area fraction ~ U(0.1, 0.5), log ratio ~ U.
    rng, n = np.random.default_rng(0), 20_000
    boxes = np.array([tr.random_resized_crop_box(1000, 1000, rng, (0.1, 0.5), (0.75, 1.35))
                      for _ in range(n)])
    area = boxes[:, 2] * boxes[:, 3] / 1e6
    log_r = np.log(boxes[:, 3] / boxes[:, 2])
    lo, hi = math.log(0.75), math.log(1.35)
    # Only the rounding of w, h >= 274 to ints moves these (by < 0.4%).
    assert area.min() > 0.099 and area.max() < 0.501
    assert log_r.min() > lo - 4e-3 and log_r.max() < hi + 4e-3
    # Means within 5 standard errors of the uniform's; a uniform (not log-uniform)
    # ratio draw would shift the log-ratio mean by 0.029, over 20 standard errors.
    assert abs(area.mean() - 0.3) < 5 * 0.4 / math.sqrt(12 * n)
    assert abs(log_r.mean() - (lo + hi) / 2) < 5 * (hi - lo) / math.sqrt(12 * n)
    # Empirical CDFs within 2 / sqrt(n) (a Kolmogorov bound far beyond the 99.9% level).
    for q in (0.1, 0.25, 0.5, 0.75, 0.9):
        assert abs(np.mean(area <= 0.1 + 0.4 * q) - q) < 2 / math.sqrt(n)
        assert abs(np.mean(log_r <= lo + (hi - lo) * q) - q) < 2 / math.sqrt(n)
    # Positions are uniform over the free range.
    assert boxes[:, 0].min() == 0 and np.all(boxes[:, 0] + boxes[:, 2] <= 1000)
    free = 1000 - boxes[:, 2]
    assert abs(np.mean(boxes[:, 0] / free) - 0.5) < 5 * math.sqrt(1 / 12 / n)


def test_official_settings_boxes_fit_and_respect_ranges():
    rng = np.random.default_rng(1)
    boxes = np.array([tr.random_resized_crop_box(240, 320, rng) for _ in range(5000)])
    top, left, h, w = boxes.T
    assert np.all((top >= 0) & (left >= 0) & (top + h <= 240) & (left + w <= 320))
    area, ratio = h * w / (240 * 320), w / h
    assert area.min() > 0.29 and area.max() <= 1.0
    assert ratio.min() > 0.74 and ratio.max() < 1.36
    assert (tr.PRETRAIN_SCALE, tr.PRETRAIN_RATIO) == ((0.3, 1.0), (0.75, 1.35))


@pytest.mark.parametrize('height, width, expected', [
    (100, 1000, (0, 432, 100, 135)),      # wider than 1.35: full height, w = 1.35 h
    (1000, 100, (433, 0, 133, 100)),      # taller than 0.75: full width, h = w / 0.75
])
def test_fallback_after_ten_misses_is_clamped_centre_crop(height, width, expected):
    # No box of >= 30% area with ratio in [0.75, 1.35] fits such frames.
    rng = np.random.default_rng(2)
    assert tr.random_resized_crop_box(height, width, rng) == expected
    # Exactly 10 attempts of 2 draws each were consumed.
    ref = np.random.default_rng(2)
    ref.random(20)
    assert rng.random() == ref.random()


def test_fallback_whole_frame_when_ratio_in_range():
    rng = np.random.default_rng(3)
    assert tr.random_resized_crop_box(30, 36, rng, max_attempts=0) == (0, 0, 30, 36)


# ----------------------------------------------------------------------------- resize


@pytest.mark.parametrize('seed', range(6))
def test_resize_matches_float_bilinear(seed):
    rng = np.random.default_rng(seed)
    height, width = (int(v) for v in rng.integers(1, 70, 2))
    clip = random_clip(rng, 2, height, width)
    box = tr.random_resized_crop_box(height, width, rng)
    size = tuple(int(v) for v in rng.integers(1, 90, 2))
    top, left, h, w = box
    ref = bilinear_reference(clip[:, top:top + h, left:left + w], size)
    out = tr.resize_clip(clip, size, box=box)
    assert out.shape == (2, *size, 3) and out.dtype == np.uint8
    assert_close_to_float(out, ref)
    np.testing.assert_array_equal(tr.resize_clip(clip, size, box=box, flip=True),
                                  out[:, :, ::-1])


def test_resize_exact_cases():
    rng = np.random.default_rng(4)
    clip = random_clip(rng, 2, 40, 50)
    np.testing.assert_array_equal(tr.resize_clip(clip, (10, 20), box=(3, 4, 10, 20)),
                                  clip[:, 3:13, 4:24])
    np.testing.assert_array_equal(tr.resize_clip(clip, (40, 50), flip=True), clip[:, :, ::-1])
    flat = np.full((2, 13, 17, 3), 201, np.uint8)
    assert np.all(tr.resize_clip(flat, (31, 7)) == 201)     # weights sum exactly to 1
    # Integer 2x upscale of one row: interior outputs sit at 1/4 and 3/4 between pixels.
    row = np.array([0, 100, 200], np.uint8)[None, None, :, None].repeat(3, -1)
    assert tr.resize_clip(row, (1, 6))[0, 0, :, 0].tolist() == [0, 25, 75, 125, 175, 200]


def test_resize_reads_only_inside_the_box():
    # Official: crop, then interpolate the crop, so edge outputs clamp to the box edge.
    clip = np.zeros((1, 20, 20, 3), np.uint8)
    clip[:, 5:10, 5:10] = 200
    out = tr.resize_clip(clip, (17, 17), box=(5, 5, 5, 5))
    assert np.all(out == 200)


def test_resize_agrees_with_pillow_on_upscaling():
    # Pillow's BILINEAR equals plain bilinear when enlarging (it antialiases only
    # when shrinking, which the official code does not): an independent reference.
    rng = np.random.default_rng(5)
    frame = random_clip(rng, 1, 30, 40)
    pil = np.asarray(Image.fromarray(frame[0]).resize((97, 71), Image.BILINEAR))
    ours = tr.resize_clip(frame, (71, 97))[0]
    diff = np.abs(ours.astype(int) - pil)
    assert diff.max() <= 2 and diff.mean() < 0.4


def test_resize_matches_official_torch_interpolate():
    torch = pytest.importorskip('torch')
    rng = np.random.default_rng(6)
    clip = random_clip(rng, 4, 240, 320)
    for box, size in [((20, 30, 180, 260), (224, 224)), ((0, 0, 240, 320), (224, 224)),
                      ((7, 11, 131, 97), (224, 224)), ((0, 5, 3, 2), (5, 9))]:
        top, left, h, w = box
        # Official pretraining: float frames as [C, T, h, w], bilinear, no antialias.
        x = torch.from_numpy(clip[:, top:top + h, left:left + w].astype(np.float32))
        ref = torch.nn.functional.interpolate(x.permute(3, 0, 1, 2), size=size, mode='bilinear',
                                              align_corners=False)
        ref = ref.permute(1, 2, 3, 0).numpy().astype(np.float64)
        # torch works in float32 (source coordinates included): 0.01 grey levels.
        np.testing.assert_allclose(bilinear_reference(clip[:, top:top + h, left:left + w], size),
                                   ref, atol=1e-2)
        assert_close_to_float(tr.resize_clip(clip, size, box=box), ref)


# ----------------------------------------------------------------------------- pretraining


def test_pretrain_transform_replays_box_then_flip_draws():
    clip = random_clip(np.random.default_rng(7), 4, 48, 64)
    flips = 0
    for seed in range(400):
        out = tr.pretrain_transform(clip, np.random.default_rng(seed), crop_size=(16, 24))
        rng = np.random.default_rng(seed)
        box = tr.random_resized_crop_box(48, 64, rng)
        flip = rng.random() < 0.5
        np.testing.assert_array_equal(out, tr.resize_clip(clip, (16, 24), box=box, flip=flip))
        flips += flip
    # Flip frequency 0.5 within 5 standard deviations (0.125 at n = 400).
    assert abs(flips / 400 - 0.5) < 5 * math.sqrt(0.25 / 400)


def test_same_box_and_flip_for_every_frame():
    rng = np.random.default_rng(8)
    base = rng.integers(0, 150, (1, 60, 80, 3))
    clip = (base + 20 * np.arange(5)[:, None, None, None]).astype(np.uint8)
    for seed in range(20):
        out = tr.pretrain_transform(clip, np.random.default_rng(seed), crop_size=32).astype(int)
        # Resizing is linear: frame t is frame 0 plus 20 t, up to rounding.
        for t in range(1, 5):
            assert np.abs(out[t] - out[0] - 20 * t).max() <= 2


def test_flip_probability_extremes_and_determinism():
    clip = coded_clip(2, 41, 59)
    for seed in range(10):
        never = tr.pretrain_transform(clip, np.random.default_rng(seed), 20, flip_prob=0.0)
        always = tr.pretrain_transform(clip, np.random.default_rng(seed), 20, flip_prob=1.0)
        np.testing.assert_array_equal(always, never[:, :, ::-1])
        assert np.all(np.diff(never[0, 0, :, 1].astype(int)) >= 0)   # x grows left to right
    a = tr.pretrain_transform(clip, np.random.default_rng(9))
    np.testing.assert_array_equal(a, tr.pretrain_transform(clip, np.random.default_rng(9)))
    assert a.shape == (2, 224, 224, 3) and a.dtype == np.uint8
    assert not np.array_equal(a, tr.pretrain_transform(clip, np.random.default_rng(10)))


# ----------------------------------------------------------------------------- evaluation


def test_short_side_rule_and_resize():
    assert tr.short_side_shape(240, 320, 256) == (256, 341)      # int(341.33): truncated
    assert tr.short_side_shape(320, 240, 224) == (298, 224)
    assert tr.short_side_shape(100, 100, 50) == (50, 50)
    clip = random_clip(np.random.default_rng(11), 2, 30, 45)
    assert tr.short_side_resize(clip, 30) is clip                 # already there: untouched
    out = tr.short_side_resize(clip, 20)
    assert out.shape == (2, 20, 30, 3)
    assert_close_to_float(out, bilinear_reference(clip, (20, 30)))


def test_center_crop_rounds_half_to_even():
    clip = coded_clip(1, 7, 9)
    # Margins 3 and 5: round(1.5) = 2 and round(2.5) = 2 (Python round, as official).
    out = tr.center_crop(clip, (4, 4))
    assert out.shape == (1, 4, 4, 3)
    assert (out[0, 0, 0, 0], out[0, 0, 0, 1]) == (2, 2)
    out = tr.center_crop(coded_clip(1, 10, 8), 4)                 # margins 6 and 4
    assert (out[0, 0, 0, 0], out[0, 0, 0, 1]) == (3, 2)


@pytest.mark.parametrize('height, width, starts, axis', [
    (20, 57, (0, 18, 36), 1),     # landscape: (57 - 20) // 2 = 18; last view ends at 56 < 57
    (58, 20, (0, 19, 38), 0),     # portrait: along the height, ends exactly at 58
    (20, 20, (0, 0, 0), 1),       # square: every view is the frame
])
def test_three_crop_positions(height, width, starts, axis):
    clip = coded_clip(2, height, width)
    views = tr.three_crop(clip, 20)
    assert views.shape == (3, 2, 20, 20, 3) and views.dtype == np.uint8
    for view, start in zip(views, starts):
        assert view[0, 0, 0, axis] == start
        np.testing.assert_array_equal(view[:, :, :, 1 - axis][0, 0, 0], 0)
        np.testing.assert_array_equal(view[1, ..., 2], 1)        # frames keep their order


def test_spatial_views_centre_the_short_side_and_count():
    clip = coded_clip(1, 25, 60)
    views = tr.spatial_views(clip, 20, 4)                          # step (60 - 20) // 3 = 13
    assert [v[0, 0, 0, 1] for v in views] == [0, 13, 26, 39]
    assert all(v[0, 0, 0, 0] == 2 for v in views)                 # round(2.5) = 2
    np.testing.assert_array_equal(tr.spatial_views(clip, 20, 1)[0], tr.center_crop(clip, 20))


def test_eval_transform_official_paths():
    rng = np.random.default_rng(12)
    clip = random_clip(rng, 2, 60, 80)
    one = tr.eval_transform(clip, crop_size=28)                   # short side int(28 * 256 / 224)
    assert one.shape == (1, 2, 28, 28, 3)
    np.testing.assert_array_equal(one[0], tr.center_crop(tr.short_side_resize(clip, 32), 28))
    three = tr.eval_transform(clip, crop_size=28, num_views=3)    # short side 28, no 256/224
    assert three.shape == (3, 2, 28, 28, 3)
    np.testing.assert_array_equal(three, tr.three_crop(tr.short_side_resize(clip, 28), 28))
    already = random_clip(rng, 1, 32, 50)
    np.testing.assert_array_equal(tr.eval_transform(already, 28)[0],
                                  tr.center_crop(already, 28))


# ----------------------------------------------------------------------------- bad inputs


def test_bad_clips_raise():
    rng = np.random.default_rng(13)
    good = random_clip(rng)
    for bad, match in [(good.astype(np.float32), 'uint8'), (good[0], 'shape'),
                       (np.zeros((2, 5, 5, 4), np.uint8), 'shape'),
                       (np.zeros((0, 5, 5, 3), np.uint8), 'shape')]:
        with pytest.raises(ValueError, match=match):
            tr.pretrain_transform(bad, rng)
        with pytest.raises(ValueError, match=match):
            tr.eval_transform(bad)
    with pytest.raises(TypeError, match='numpy'):
        tr.resize_clip(good.tolist(), 4)


@pytest.mark.parametrize('call, error, match', [
    (lambda c, r: tr.resize_clip(c, 0), ValueError, 'size'),
    (lambda c, r: tr.resize_clip(c, (4, 2.5)), ValueError, 'size'),
    (lambda c, r: tr.resize_clip(c, (1, 2, 3)), ValueError, 'size'),
    (lambda c, r: tr.resize_clip(c, 4, box=(30, 0, 10, 10)), ValueError, 'does not fit'),
    (lambda c, r: tr.resize_clip(c, 4, box=(0, 0, 0, 10)), ValueError, 'box height'),
    (lambda c, r: tr.resize_clip(c, 4, box=(0, 0, 10)), ValueError, 'box'),
    (lambda c, r: tr.pretrain_transform(c, r, scale=(0.5, 0.2)), ValueError, 'scale'),
    (lambda c, r: tr.pretrain_transform(c, r, ratio=(0.0, 1.0)), ValueError, 'ratio'),
    (lambda c, r: tr.pretrain_transform(c, r, flip_prob=1.5), ValueError, 'flip_prob'),
    (lambda c, r: tr.pretrain_transform(c, 0), TypeError, 'Generator'),
    (lambda c, r: tr.center_crop(c, 38), ValueError, 'larger'),
    (lambda c, r: tr.three_crop(c, 38), ValueError, 'short side'),
    (lambda c, r: tr.eval_transform(c, 28, num_views=0), ValueError, 'num_views'),
])
def test_bad_arguments_raise(call, error, match):
    clip = random_clip(np.random.default_rng(14), 2, 37, 53)
    with pytest.raises(error, match=match):
        call(clip, np.random.default_rng(0))

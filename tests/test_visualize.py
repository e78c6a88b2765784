"""PCA pictures of patch features and loss curves: sizes, colours, and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from tests.helpers.checkpoints import write_train_workdir, write_video
from tests.helpers.exit_status import exit_status
from vjepa_jax.tools.loss_picture import loss_curve
from vjepa_jax.tools.pca_picture import GAP, pca_colors, pca_figure, pca_image
from vjepa_jax.tools.plot_engine import PALETTE, VisualizeError, loss_curve_image
from vjepa_jax.tools.visualize import main

GRID = (3, 2, 5)   # T', H', W'
N = 3 * 2 * 5


def _frames(t=6, h=16, w=40, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (t, h, w, 3), dtype=np.uint8)


def test_identical_tokens_give_one_constant_colour():
    tokens = np.tile(np.random.default_rng(1).standard_normal(7), (N, 1))
    np.testing.assert_array_equal(pca_colors(tokens, GRID), np.full((*GRID, 3), 0.5))
    image = pca_image(_frames(), tokens, GRID)
    maps = image[16 + GAP:]
    tiles = [maps[:, t * (40 + GAP):t * (40 + GAP) + 40] for t in range(3)]
    for tile in tiles:
        assert np.all(tile == 128)


def test_pca_image_layout_and_content():
    frames = _frames()
    # Two groups of tokens, left and right half of every frame, plus a small
    # independent direction: the first component separates the halves.
    rng = np.random.default_rng(2)
    grid_w = np.tile(np.arange(GRID[2]), GRID[0] * GRID[1])
    direction = rng.standard_normal(11)
    tokens = np.where(grid_w[:, None] < 2, 1.0, -1.0) * direction * 10
    tokens = tokens + 0.01 * rng.standard_normal((N, 11))
    colors = pca_colors(tokens, GRID)
    assert colors.shape == (*GRID, 3) and colors.dtype == np.float32
    assert colors.min() >= 0 and colors.max() <= 1
    for c in range(3):  # per-component min / max normalisation over the clip
        assert colors[..., c].min() == 0 and colors[..., c].max() == 1
    red = colors[..., 0]
    left, right = red[..., :2], red[..., 2:]
    assert np.ptp(left) < 0.05 and np.ptp(right) < 0.05 and abs(left.mean() - right.mean()) > 0.9
    # Centred and min / max scaled: a shift and a positive scale of all features change
    # nothing (and the components' signs are fixed by their loadings, not by the SVD).
    np.testing.assert_allclose(pca_colors(3 * tokens + 5, GRID), colors, atol=1e-5)

    image = pca_image(frames, tokens, GRID, scale=2)
    h, w = 16 * 2, 40 * 2
    assert image.shape == (2 * h + GAP, 3 * w + 2 * GAP, 3) and image.dtype == np.uint8
    for t in range(3):  # row 1: frame t * tubelet (tubelet = 6 / 3 = 2), enlarged
        tile = image[:h, t * (w + GAP):t * (w + GAP) + w]
        np.testing.assert_array_equal(tile[::2, ::2], frames[2 * t])
        # Row 2: token (t, i, j) fills an 8 x 8 block of the 16 x 40 frame (x 2 here).
        pca_tile = image[h + GAP:, t * (w + GAP):t * (w + GAP) + w]
        expected = (colors[t] * 255 + 0.5).astype(np.uint8).repeat(16, 0).repeat(16, 1)
        np.testing.assert_array_equal(pca_tile, expected)


def test_pca_shape_errors():
    with pytest.raises(VisualizeError, match='do not match grid'):
        pca_colors(np.zeros((N + 1, 4)), GRID)
    with pytest.raises(VisualizeError, match='tubelets'):
        pca_image(_frames(t=5), np.zeros((N, 4)), GRID)
    with pytest.raises(VisualizeError, match='uint8'):
        pca_image(_frames().astype(np.float32), np.zeros((N, 4)), GRID)


def test_pca_figure_writes_png(tmp_path):
    out = pca_figure(_frames(), np.random.default_rng(0).standard_normal((N, 9)), GRID,
                     tmp_path / 'a' / 'pca.png')
    with Image.open(out) as im:
        assert im.format == 'PNG' and im.size == (3 * 40 + 2 * GAP, 2 * 16 + GAP)


def _metrics(path, steps=40, nan_at=(17,)):
    lines = []
    for s in range(10, 10 * steps + 1, 10):
        loss = float('nan') if s // 10 in nan_at else 0.8 * np.exp(-s / 150) + 0.2
        lines.append(json.dumps({'step': s, 'time': 0.0, 'loss': loss, 'lr': 1e-4 * s}))
    path.write_text('\n'.join(lines) + '\n{"step": 41')  # a torn last line (crash)
    return path


def test_loss_curve_png(tmp_path):
    metrics = _metrics(tmp_path / 'metrics.jsonl')
    out = loss_curve(metrics, tmp_path / 'loss.png')
    with Image.open(out) as im:
        assert im.format == 'PNG' and im.size == (800, 500)
        pixels = np.asarray(im.convert('RGB'))
    colours = np.unique(pixels.reshape(-1, 3), axis=0)
    assert len(colours) > 20                               # lines, text, anti-aliasing
    line = np.all(np.abs(pixels.astype(int) - PALETTE[0]) < 30, axis=-1)
    assert line.sum() > 800                                # the curve is drawn
    rows = np.nonzero(line[:, 150:700].any(axis=1))[0]
    assert rows.max() - rows.min() > 200                   # and spans the plot vertically
    # The curve falls: its pixels on the left sit higher (smaller row) than on the right.
    left_rows = np.nonzero(line[:, 95:130].any(axis=1))[0]
    right_rows = np.nonzero(line[:, 700:770].any(axis=1))[0]
    assert left_rows.mean() < right_rows.mean()
    dark = np.all(pixels < 80, axis=-1)
    assert dark[470:, 300:500].sum() > 30                  # the x label 'step' is there

    two = loss_curve_image([json.loads(x) for x in metrics.read_text().splitlines()[:-1]],
                           keys=('loss', 'lr'), log_y=True, size=(640, 400))
    assert two.shape == (400, 640, 3)
    assert np.all(np.abs(two.astype(int) - PALETTE[1]) < 30, axis=-1).sum() > 400


def test_loss_curve_errors_and_cli(tmp_path, capsys):
    metrics = _metrics(tmp_path / 'metrics.jsonl', steps=3)
    with pytest.raises(VisualizeError, match='no finite values for missing'):
        loss_curve(metrics, tmp_path / 'x.png', keys=('missing',))
    assert main(['loss', '--workdir', str(tmp_path), '--out', str(tmp_path / 'l.png')]) == 0
    assert (tmp_path / 'l.png').stat().st_size > 1000
    assert exit_status(main, ['loss', '--workdir', str(tmp_path / 'nope'), '--out',
                              str(tmp_path / 'm.png')]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith('error: No metrics file')


def test_pca_cli(tmp_path, capsys):
    write_train_workdir(tmp_path / 'run', steps=(1, 2))
    video = write_video(tmp_path / 'v.mp4', 10, (30, 40))
    out = tmp_path / 'pca.png'
    assert main(['pca', '--checkpoint', str(tmp_path / 'run'), '--video', str(video),
                 '--out', str(out), '--frame-step', '2', '--scale', '3', '--step', '1']) == 0
    with Image.open(out) as im:  # 2 tubelets of 24 x 24 crops, enlarged 3 x
        assert im.size == (2 * 72 + GAP, 2 * 72 + GAP)
    assert 'grid (2, 3, 3)' in capsys.readouterr().err
    (tmp_path / 'bad.mp4').write_bytes(b'x' * 100)
    assert exit_status(main, ['pca', '--checkpoint', str(tmp_path / 'run'), '--video',
                              str(tmp_path / 'bad.mp4'), '--out', str(out)]) == 2
    assert 'not_a_video' in capsys.readouterr().err
    assert exit_status(main, ['pca', '--checkpoint', str(tmp_path / 'run'), '--step', '3',
                              '--video', str(video), '--out', str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith('error: ') and 'it has steps 1, 2' in err and '\n' not in err

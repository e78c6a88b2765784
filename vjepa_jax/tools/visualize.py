"""Pictures: PCA of patch features over a clip, and training loss curves (Pillow only).

Command line::

  python -m vjepa_jax.tools.visualize pca --checkpoint C --video V --out pca.png \\
      [--frames N --frame-step 4 --crop S --which target_encoder --scale K --num-heads N]
  python -m vjepa_jax.tools.visualize loss --workdir W --out loss.png [--keys loss loss/set0 --log-y]

The pictures are described in ``pca_picture`` and ``loss_picture``; mistakes
end in one ``error: ...`` line (``errors.cli_exit``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vjepa_jax.errors import cli_exit
from vjepa_jax.tools.loss_picture import loss_curve
from vjepa_jax.tools.pca_picture import pca_figure
from vjepa_jax.tools.plot_engine import VisualizeError


def _pca_command(args: argparse.Namespace) -> str:
    # jax and the models: only the pca command needs them.
    from vjepa_jax.loading import load
    from vjepa_jax.tools.video_files import load_clip

    model = load(args.checkpoint, step=args.step, which=args.which, num_heads=args.num_heads,
                 num_frames=args.num_frames, img_size=args.img_size)
    encoder = model.encoder
    frames = args.frames or encoder.num_frames
    crop = args.crop or encoder.img_size
    try:
        grid = encoder.input_grid((1, frames, crop, crop, 3))
    except ValueError as e:
        raise VisualizeError(str(e)) from None
    clip = load_clip(args.video, frames, args.frame_step, crop)
    tokens = model.encode(clip)  # uint8: normalised on the device
    scale = args.scale or max(1, 160 // crop)
    out = pca_figure(clip, np.asarray(tokens[0], np.float32), grid, args.out, scale)
    return f'wrote {out} (token grid {grid}, {frames} frames of {crop} x {crop})'


def _loss_command(args: argparse.Namespace) -> str:
    source = Path(args.workdir)
    metrics = source if source.is_file() else source / 'metrics.jsonl'
    out = loss_curve(metrics, args.out, keys=args.keys, log_y=args.log_y)
    return f'wrote {out}'


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; a user mistake exits with one ``error: ...`` line (status 2)."""
    parser = argparse.ArgumentParser(prog='python -m vjepa_jax.tools.visualize',
                                     description=__doc__.split('\n\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)
    pca = sub.add_parser('pca', help='PCA of one clip\'s patch features, next to its frames')
    pca.add_argument('--checkpoint', required=True,
                     help='official .pth.tar, converted checkpoint directory or training workdir')
    pca.add_argument('--step', type=int, default=None,
                     help='training workdirs: the step to read (default: the latest)')
    pca.add_argument('--video', required=True, help='a video file')
    pca.add_argument('--out', required=True, help='output .png')
    pca.add_argument('--frames', type=int, default=None, help='default: the model\'s')
    pca.add_argument('--frame-step', type=int, default=4)
    pca.add_argument('--crop', type=int, default=None, help='default: the model\'s resolution')
    pca.add_argument('--which', default='target_encoder', choices=('target_encoder', 'encoder'))
    pca.add_argument('--scale', type=int, default=None,
                     help='integer enlargement (default: frames at least 160 px)')
    pca.add_argument('--num-heads', type=int, default=None, help='official files only')
    pca.add_argument('--num-frames', type=int, default=None, help='official files only')
    pca.add_argument('--img-size', type=int, default=None, help='official files only')
    pca.set_defaults(run=_pca_command)
    loss = sub.add_parser('loss', help='loss vs step from WORKDIR/metrics.jsonl')
    loss.add_argument('--workdir', required=True, help='training workdir (or a metrics.jsonl)')
    loss.add_argument('--out', required=True, help='output .png')
    loss.add_argument('--keys', nargs='+', default=['loss'],
                      help='metrics to plot (default: loss)')
    loss.add_argument('--log-y', action='store_true', help='logarithmic y axis')
    loss.set_defaults(run=_loss_command)
    args = parser.parse_args(argv)
    logging.getLogger('absl').setLevel(logging.ERROR)  # orbax's notes on metadata files
    message = cli_exit(lambda: args.run(args))
    print(message, file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())

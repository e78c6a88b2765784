"""Command line for frozen-encoder features of video files (``feature_extraction``)::

  python -m vjepa_jax.tools.extract --checkpoint C --videos DIR_OR_INDEX --out features.npz \\
      [--frames 16 --frame-step 4 --crop 224 --batch 8 --which target_encoder \\
       --dtype float32|bfloat16 --workers 4 --no-tokens --num-heads N]

``--checkpoint``: anything ``vjepa_jax.load`` reads (an official ``.pth.tar``,
a converted model directory, a training workdir: its latest step).
``--videos``: a folder (every video file below it, sorted by relative path;
labels -1), an official index file (``path label`` lines; labels kept), or a
single video file. The output file is described in ``feature_extraction``.
Mistakes end in one ``error: ...`` line (``errors.cli_exit``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from vjepa_jax.errors import cli_exit
from vjepa_jax.tools.feature_extraction import extract_features, logger


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; a user mistake exits with one ``error: ...`` line (status 2)."""
    parser = argparse.ArgumentParser(
        prog='python -m vjepa_jax.tools.extract',
        description='Frozen-encoder features (tokens and mean-pooled) of video files.')
    parser.add_argument('--checkpoint', required=True,
                        help='official .pth.tar, converted checkpoint directory or training '
                             'workdir')
    parser.add_argument('--step', type=int, default=None,
                        help='training workdirs: the step to read (default: the latest)')
    parser.add_argument('--videos', required=True,
                        help='folder of videos, index file ("path label" lines) or a video')
    parser.add_argument('--out', required=True, help='output .npz')
    parser.add_argument('--frames', type=int, default=None,
                        help='frames per clip (default: the model\'s, 16 for official ones)')
    parser.add_argument('--frame-step', type=int, default=4, help='frame stride (default 4)')
    parser.add_argument('--crop', type=int, default=None,
                        help='centre crop side (default: the model\'s resolution)')
    parser.add_argument('--batch', type=int, default=8, help='clips per encoder call')
    parser.add_argument('--which', default='target_encoder', choices=('target_encoder',
                                                                      'encoder'))
    parser.add_argument('--dtype', default='float32', choices=('float32', 'bfloat16'),
                        help='compute dtype (params stay float32)')
    parser.add_argument('--workers', type=int, default=None,
                        help='decoding threads (default min(8, CPUs))')
    parser.add_argument('--no-tokens', action='store_true',
                        help='store only the pooled features (small files)')
    parser.add_argument('--progress-every', type=int, default=10,
                        help='batches between progress lines')
    parser.add_argument('--num-heads', type=int, default=None,
                        help='official files: attention heads, for widths that are not an '
                             'official size')
    parser.add_argument('--num-frames', type=int, default=None,
                        help='official files: frames the model was built for (default 16)')
    parser.add_argument('--img-size', type=int, default=None,
                        help='official files: resolution the model was built for')
    args = parser.parse_args(argv)
    # Skipped videos as 'warning: ...' lines next to the progress lines; the
    # handler is removed again so that callers' logging (and pytest's) is untouched.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter('%(levelname)s: %(message)s'))
    logger.addHandler(handler)
    propagate, logger.propagate = logger.propagate, False
    logging.getLogger('absl').setLevel(logging.ERROR)  # orbax's notes on metadata files
    import_kwargs = {k: v for k, v in (('num_heads', args.num_heads),
                                       ('num_frames', args.num_frames),
                                       ('img_size', args.img_size)) if v is not None}
    try:
        return cli_exit(lambda: _extract(args, import_kwargs))
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _extract(args: argparse.Namespace, import_kwargs: dict) -> int:
    result = extract_features(
        args.checkpoint, args.videos, out=args.out, step=args.step, frames=args.frames,
        frame_step=args.frame_step, crop=args.crop, batch_size=args.batch,
        which=args.which, dtype=args.dtype, keep_tokens=not args.no_tokens,
        workers=args.workers, progress_every=args.progress_every,
        import_kwargs=import_kwargs)
    n, n_failed = len(result['paths']), len(result['failed_paths'])
    print(f'wrote {args.out}: {n} videos, {n_failed} failed'
          + (f' ({", ".join(sorted(set(result["failed_reasons"].tolist())))})'
             if n_failed else ''), file=sys.stderr)
    if n == 0:
        print('error: no video could be read', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())

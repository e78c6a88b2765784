"""Command line: official ``.pth.tar`` <-> our checkpoint directories.

  python -m vjepa_jax.tools.convert import jepa-latest.pth.tar OUT_DIR [--num-heads N]
      [--num-frames 16] [--img-size S] [--predictor-num-heads N] [--force]
  python -m vjepa_jax.tools.convert export OUT_DIR exported.pth.tar [--force]

``import`` recognises pretraining checkpoints (``encoder`` / ``predictor`` /
``target_encoder``) and attentive-probe checkpoints (``classifier``).
``export`` writes the format the directory came from. Mistakes end in one
``error: ...`` line (``errors.cli_exit``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from vjepa_jax import checkpointing
from vjepa_jax.convert import official, torch_pickle
from vjepa_jax.errors import ConfigError, cli_exit
from vjepa_jax.loading import load
from vjepa_jax.loading.official_file import import_official
from vjepa_jax.models.param_count import param_count


def _refuse_existing(dst: Path, force: bool) -> None:
    if dst.exists() and not force:
        raise ConfigError(f'{dst} already exists; pass --force to overwrite it.')


def _import(args: argparse.Namespace) -> None:
    _refuse_existing(Path(args.dst), args.force)
    start = time.time()
    print(f'reading {args.src} ...', flush=True)
    converted = import_official(args.src, num_heads=args.num_heads, num_frames=args.num_frames,
                                img_size=args.img_size,
                                predictor_num_heads=args.predictor_num_heads)
    kind = 'classifier' if 'classifier' in converted.params else 'pretraining'
    for name, tree in converted.params.items():
        cfg = converted.config.get(name, converted.config.get('encoder'))
        print(f'  {name}: {param_count(tree):,} params  {cfg}')
    out = checkpointing.save_model_checkpoint(
        args.dst, kind, converted.config, converted.params,
        converted.official_tensors, converted.metadata, overwrite=args.force)
    print(f'wrote {kind} checkpoint {out} in {time.time() - start:.1f}s')


def _export(args: argparse.Namespace) -> None:
    dst = Path(args.dst)
    _refuse_existing(dst, args.force)
    if not checkpointing.is_model_checkpoint(args.src):
        raise ConfigError(f'{args.src} is no converted directory (no '
                          f'{checkpointing.CONFIG_FILE}); export takes one (`import` an '
                          'official file first).')
    model = load(args.src)
    converted = model.to_converted()
    if model.kind == 'classifier':
        checkpoint = official.export_classifier(converted)
    else:
        checkpoint = official.export_pretraining(converted)
    torch_pickle.save_torch_checkpoint(checkpoint, dst)
    print(f'wrote official {model.kind} checkpoint {dst} '
          f'(keys: {", ".join(checkpoint)})')


def main(argv: list[str] | None = None) -> int:
    """Runs the command line; a user mistake exits with one ``error: ...`` line (status 2)."""
    parser = argparse.ArgumentParser(prog='python -m vjepa_jax.tools.convert',
                                     description=__doc__.split('\n\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)
    imp = sub.add_parser('import', help='official .pth.tar -> our checkpoint directory')
    imp.add_argument('src', help='official checkpoint (.pth.tar)')
    imp.add_argument('dst', help='new checkpoint directory')
    imp.add_argument('--num-heads', type=int, default=None,
                     help='attention heads (default: the official value for the width)')
    imp.add_argument('--predictor-num-heads', type=int, default=None,
                     help='predictor heads (default: the encoder\'s, as the official code)')
    imp.add_argument('--num-frames', type=int, default=16,
                     help='frames the model was built for (default 16)')
    imp.add_argument('--img-size', type=int, default=None,
                     help='resolution the model was built for (default: from pos_embed)')
    imp.add_argument('--force', action='store_true', help='overwrite DST')
    imp.set_defaults(run=_import)
    exp = sub.add_parser('export', help='our checkpoint directory -> official .pth.tar')
    exp.add_argument('src', help='our checkpoint directory')
    exp.add_argument('dst', help='output .pth.tar')
    exp.add_argument('--force', action='store_true', help='overwrite DST')
    exp.set_defaults(run=_export)
    args = parser.parse_args(argv)
    cli_exit(lambda: args.run(args))
    return 0


if __name__ == '__main__':
    sys.exit(main())

"""Command line: official V-JEPA / V-JEPA 2 files and Hugging Face dirs <-> our directories.

  python -m vjepa_jax.tools.convert import SRC OUT_DIR [--num-heads N]
      [--num-frames 16] [--img-size S] [--predictor-num-heads N]
      [--probe-num-heads N] [--force]
  python -m vjepa_jax.tools.convert export SRC DST [--format official|hf]
      [--hf-encoder encoder|target_encoder] [--force]

``import`` reads an official V-JEPA ``.pth.tar`` (pretraining: ``encoder`` /
``predictor`` / ``target_encoder``; attentive probe: ``classifier``), an
official V-JEPA 2 ``.pt`` (pretraining such as ``vitl.pt``, or a probe with
``classifiers``) or a Hugging Face V-JEPA 2 directory, and writes our
converted directory. ``export`` writes a converted directory (V-JEPA 1 or 2)
or any V-JEPA 2 checkpoint as an official file (``--format official``, the
default: ``.pth.tar`` for V-JEPA 1, ``.pt`` for V-JEPA 2) or, for V-JEPA 2,
as a Hugging Face directory (``--format hf``; ``--hf-encoder`` picks the
encoder HF's single encoder gets). Mistakes end in one ``error: ...`` line
(``errors.cli_exit``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from vjepa_jax import checkpointing
from vjepa_jax.convert import official, torch_pickle, vjepa2_formats
from vjepa_jax.errors import CheckpointError, ConfigError, cli_exit
from vjepa_jax.loading import LoadedModel, load
from vjepa_jax.loading.official_file import import_official
from vjepa_jax.loading.train_workdir import find_train_checkpoint
from vjepa_jax.loading.vjepa2_files import OPTIONS as VJEPA2_OPTIONS
from vjepa_jax.models.param_count import param_count


def _refuse_existing(dst: Path, force: bool) -> None:
    if dst.exists() and not force:
        raise ConfigError(f'{dst} already exists; pass --force to overwrite it.')


def _vjepa2_options(fmt: vjepa2_formats.CheckpointFormat,
                    args: argparse.Namespace) -> dict[str, int]:
    """The CLI flags as the import options of V-JEPA 2 format ``fmt`` (``vjepa2_files.OPTIONS``)."""
    given = {'num_heads': args.num_heads, 'predictor_num_heads': args.predictor_num_heads,
             'img_size': args.img_size, 'num_frames': args.num_frames,
             'probe_num_heads': args.probe_num_heads}
    if fmt is vjepa2_formats.PROBE_PT:  # a probe's heads are the probe's own
        given['num_heads'] = args.probe_num_heads or args.num_heads
    return {k: v for k, v in given.items() if k in VJEPA2_OPTIONS[fmt.name] and v is not None}


def _import_vjepa2(args: argparse.Namespace, fmt: vjepa2_formats.CheckpointFormat) -> None:
    start = time.time()
    model = load(args.src, **_vjepa2_options(fmt, args))
    for name, tree in model.params.items():
        print(f'  {name}: {param_count(tree):,} params')
    for note in model.provenance.notes:
        print(f'  note: {note}')
    out = checkpointing.save_model_checkpoint(args.dst, model.kind, model.config, model.params,
                                              None, model.metadata, overwrite=args.force)
    print(f'wrote V-JEPA 2 {model.kind} checkpoint {out} ({fmt.name}) in '
          f'{time.time() - start:.1f}s')


def _import(args: argparse.Namespace) -> None:
    _refuse_existing(Path(args.dst), args.force)
    start = time.time()
    print(f'reading {args.src} ...', flush=True)
    fmt = vjepa2_formats.detect_format(args.src)
    if fmt is not None:
        _import_vjepa2(args, fmt)
        return
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


def _export_vjepa2(model: LoadedModel, dst: Path, args: argparse.Namespace) -> None:
    if args.format == 'hf':
        if model.encoder is None:
            raise CheckpointError(f'{args.src} is a probe without an encoder; a Hugging Face '
                                  'directory needs one (export it with --format official).')
        key = args.hf_encoder or ('encoder' if 'encoder' in model.params else 'target_encoder')
        if key not in model.params:
            raise CheckpointError(f'{args.src} has no {key!r}; it has '
                                  f'{", ".join(sorted(model.params))} (pass --hf-encoder).')
        vjepa2_formats.HF_DIR.write(dst, model.config, model.params, encoder_key=key)
        print(f'wrote Hugging Face V-JEPA 2 directory {dst} (its encoder: our {key})')
        return
    fmt = vjepa2_formats.PROBE_PT if model.encoder is None else vjepa2_formats.PRETRAINING_PT
    fmt.write(dst, model.config, model.params, model.metadata)
    dropped = ' (its probe head is not part of a pretraining file)' \
        if model.encoder is not None and 'classifiers' in model.params else ''
    print(f'wrote official V-JEPA 2 {model.kind} checkpoint {dst}{dropped}')


def _export(args: argparse.Namespace) -> None:
    dst = Path(args.dst)
    _refuse_existing(dst, args.force)
    if vjepa2_formats.detect_format(args.src) is not None:
        _export_vjepa2(load(args.src), dst, args)
        return
    workdir = find_train_checkpoint(args.src) is not None
    if not workdir and not checkpointing.is_model_checkpoint(args.src):
        raise ConfigError(f'{args.src} is no converted directory (no '
                          f'{checkpointing.CONFIG_FILE}), training workdir or V-JEPA 2 '
                          'checkpoint; export takes one (`import` an official file first).')
    # A workdir's latest step, with the encoder, predictor and target encoder.
    model = load(args.src, all_params=True) if workdir else load(args.src)
    if model.family == 'vjepa2':
        _export_vjepa2(model, dst, args)
        return
    if args.format != 'official':
        raise ConfigError(f'{args.src} is a V-JEPA 1 checkpoint; --format {args.format} is for '
                          'V-JEPA 2 only, use --format official.')
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
    imp = sub.add_parser('import', help='official file / HF directory -> our checkpoint directory')
    imp.add_argument('src', help='official V-JEPA .pth.tar, V-JEPA 2 .pt or HF V-JEPA 2 directory')
    imp.add_argument('dst', help='new checkpoint directory')
    imp.add_argument('--num-heads', type=int, default=None,
                     help='attention heads (default: the official value for the width)')
    imp.add_argument('--predictor-num-heads', type=int, default=None,
                     help='predictor heads (default: the encoder\'s, as the official code)')
    imp.add_argument('--num-frames', type=int, default=16,
                     help='frames the model was built for (default 16)')
    imp.add_argument('--img-size', type=int, default=None,
                     help='resolution the model was built for (default: from pos_embed)')
    imp.add_argument('--probe-num-heads', type=int, default=None,
                     help='V-JEPA 2 probe heads (default: 16, the official probes; HF '
                          'directories: as stored)')
    imp.add_argument('--force', action='store_true', help='overwrite DST')
    imp.set_defaults(run=_import)
    exp = sub.add_parser('export', help='our checkpoint directory -> official file / HF dir')
    exp.add_argument('src', help='our checkpoint directory, or any V-JEPA 2 checkpoint')
    exp.add_argument('dst', help='output file (.pth.tar / .pt) or HF directory')
    exp.add_argument('--format', choices=('official', 'hf'), default='official',
                     help='official file (default) or, for V-JEPA 2, a Hugging Face directory')
    exp.add_argument('--hf-encoder', choices=('encoder', 'target_encoder'), default=None,
                     help='the encoder written to the HF directory (default: encoder, as the '
                          'hub files; target_encoder when there is no encoder)')
    exp.add_argument('--force', action='store_true', help='overwrite DST')
    exp.set_defaults(run=_export)
    args = parser.parse_args(argv)
    cli_exit(lambda: args.run(args))
    return 0


if __name__ == '__main__':
    sys.exit(main())

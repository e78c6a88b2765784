"""Reader for official V-JEPA ``.pth.tar`` files (pretraining or attentive probe), without torch."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from vjepa_jax.convert import official, torch_pickle
from vjepa_jax.loading.loaded_model import LoadedModel, build_model
from vjepa_jax.loading.provenance import Provenance
from vjepa_jax.loading.readers import CheckpointNotFoundError, LoadRequest, Reader

NAME = 'official_vjepa'
PRETRAINING_OPTIONS = ('num_heads', 'img_size', 'num_frames', 'predictor_num_heads')
CLASSIFIER_OPTIONS = ('num_heads',)


def import_official(path: str | os.PathLike, **options: Any) -> official.Converted:
    """Reads an official ``.pth.tar`` with the restricted unpickler and converts it.

    ``options`` go to ``official.import_pretraining`` (``num_heads``,
    ``img_size``, ``num_frames``, ``predictor_num_heads``) or, for a probe
    checkpoint, ``official.import_classifier`` (``num_heads``).
    """
    if not Path(path).is_file():
        raise CheckpointNotFoundError(f'No checkpoint file at {path}: give an official V-JEPA '
                                      '.pth.tar.')
    checkpoint = torch_pickle.load_torch_checkpoint(path)
    if not isinstance(checkpoint, dict):
        raise official.ConversionError(f'{path}: expected a dict checkpoint, got '
                                       f'{type(checkpoint).__name__}.')
    unknown = sorted(set(options) - set(PRETRAINING_OPTIONS))
    if unknown:
        raise official.ConversionError(f'{path}: unknown import option(s) {unknown}; official '
                                       f'files take {", ".join(PRETRAINING_OPTIONS)}.')
    if checkpoint.get('classifier') is not None:
        return official.import_classifier(checkpoint, options.get('num_heads'))
    return official.import_pretraining(checkpoint, **options)


def _notes(converted: official.Converted, options: dict[str, Any]) -> tuple[str, ...]:
    notes = ['read without torch (restricted unpickler: tensors and plain containers only)']
    given = ', '.join(f'{k}={v}' for k, v in sorted(options.items()))
    notes.append(f'import options: {given}' if given else 'import options: none (defaults)')
    enc = converted.config.get('encoder')
    if enc is not None:
        if 'num_frames' not in options:
            notes.append(f'num_frames={enc["num_frames"]} assumed (the official default; not '
                         'stored in the file)')
        if 'img_size' not in options:
            notes.append(f'img_size={enc["img_size"]} from the position table')
    return tuple(notes)


def _read(request: LoadRequest) -> LoadedModel:
    if request.step is not None:
        raise official.ConversionError(f'{request.path} is an official checkpoint file; step= '
                                       'applies to training workdirs only, drop it.')
    converted = import_official(request.path, **request.options)
    kind = 'classifier' if 'classifier' in converted.params else 'pretraining'
    provenance = Provenance(str(request.path), NAME, None,
                            None if kind == 'classifier' else request.which,
                            _notes(converted, request.options), dict(converted.metadata))
    return build_model(kind, converted.config, converted.params, provenance,
                       converted.official_tensors)


def _claims(path: Path) -> bool:
    return path.is_file()


READER = Reader(NAME, 'an official V-JEPA .pth.tar file', _claims, _read)

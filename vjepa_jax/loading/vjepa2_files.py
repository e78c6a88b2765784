"""Readers for V-JEPA 2 checkpoints: official ``.pt`` (pretraining, probe) and Hugging Face dirs.

One reader per ``convert.vjepa2_formats.FORMATS`` entry; each claims what its
format's ``detect`` recognises (key names only, no tensors) and reads with its
``read``. They must come before ``official_vjepa``, which claims every file.
Safetensors are read with ``safetensors``' NumPy API, without torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vjepa_jax.convert import vjepa2_formats
from vjepa_jax.convert.official_config import ConversionError
from vjepa_jax.convert.vjepa2_formats import CheckpointFormat
from vjepa_jax.loading.loaded_model import LoadedModel, build_model
from vjepa_jax.loading.provenance import Provenance
from vjepa_jax.loading.readers import LoadRequest, Reader

# The import options each format takes (``load(path, **options)``).
OPTIONS = {
    vjepa2_formats.PRETRAINING_PT.name: ('num_heads', 'img_size', 'num_frames',
                                         'predictor_num_heads'),
    vjepa2_formats.PROBE_PT.name: ('num_heads',),
    vjepa2_formats.HF_DIR.name: ('probe_num_heads', 'probe_layer_norm_eps'),
}
DESCRIPTIONS = {
    vjepa2_formats.PRETRAINING_PT.name: 'an official V-JEPA 2 pretraining .pt (vitl.pt, latest.pt)',
    vjepa2_formats.PROBE_PT.name: 'an official V-JEPA 2 probe .pt (classifiers)',
    vjepa2_formats.HF_DIR.name: 'a Hugging Face V-JEPA 2 directory (config.json + *.safetensors)',
}


def _notes(name: str, provenance: dict[str, Any], options: dict[str, Any]) -> tuple[str, ...]:
    notes = ['read without torch']
    given = ', '.join(f'{k}={v}' for k, v in sorted(options.items()))
    notes.append(f'import options: {given}' if given else 'import options: none (defaults)')
    if name == vjepa2_formats.PRETRAINING_PT.name:
        for key, default in (('img_size', 256), ('num_frames', 16)):
            if key not in options:
                notes.append(f'{key}={default} assumed (the official default; RoPE models do not '
                             'store it)')
    notes.extend(f'ignored: {line}' for line in provenance.get('ignored', ()))
    return tuple(notes)


def read_vjepa2(fmt: CheckpointFormat, request: LoadRequest) -> LoadedModel:
    """Reads ``request.path`` in format ``fmt`` into a ``LoadedModel`` of V-JEPA 2 modules.

    Raises:
      ConversionError: ``step=`` given, an option the format does not take, or
        tensors that do not match an official V-JEPA 2 model (every problem).
    """
    if request.step is not None:
        raise ConversionError(f'{request.path} is a V-JEPA 2 checkpoint; step= applies to '
                              'training workdirs only, drop it.')
    allowed = OPTIONS[fmt.name]
    unknown = sorted(set(request.options) - set(allowed))
    if unknown:
        raise ConversionError(f'{request.path}: unknown import option(s) {unknown} for '
                              f'{fmt.name}; it takes {", ".join(allowed)}.')
    config, params, provenance = fmt.read(request.path, **request.options)
    kind = 'classifier' if 'classifiers' in params and 'encoder' not in params else 'pretraining'
    which = None if kind == 'classifier' else request.which
    return build_model(kind, config, params,
                       Provenance(str(request.path), fmt.name, None, which,
                                  _notes(fmt.name, provenance, request.options),
                                  dict(provenance.get('metadata', {}))))


def _reader(fmt: CheckpointFormat) -> Reader:
    def claims(path: Path) -> bool:
        return fmt.detect(path)

    def read(request: LoadRequest) -> LoadedModel:
        return read_vjepa2(fmt, request)

    return Reader(fmt.name, DESCRIPTIONS[fmt.name], claims, read)


READERS = tuple(_reader(fmt) for fmt in vjepa2_formats.FORMATS)

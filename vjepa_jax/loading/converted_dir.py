"""Reader for our model checkpoint directories (``model_config.json`` + ``params/``)."""

from __future__ import annotations

from vjepa_jax import checkpointing
from vjepa_jax.errors import CheckpointError
from vjepa_jax.loading.loaded_model import LoadedModel, build_model
from vjepa_jax.loading.provenance import Provenance
from vjepa_jax.loading.readers import LoadRequest, Reader

NAME = 'converted'


def _read(request: LoadRequest) -> LoadedModel:
    if request.step is not None:
        raise CheckpointError(f'{request.path} is a converted model checkpoint; step= applies '
                              'to training workdirs only, drop it.')
    try:
        ckpt = checkpointing.load_model_checkpoint(request.path)
    except (FileNotFoundError, ValueError) as e:  # checkpointing's own errors: not ours
        raise CheckpointError(str(e)) from e
    notes = [f'{checkpointing.CONFIG_FILE}: {ckpt["kind"]} checkpoint']
    if request.options:
        notes.append('import options ignored (the config is stored): '
                     + ', '.join(f'{k}={v}' for k, v in sorted(request.options.items())))
    which = None if ckpt['kind'] == 'classifier' else request.which
    provenance = Provenance(str(request.path), NAME, None, which, tuple(notes),
                            dict(ckpt['metadata']))
    return build_model(ckpt['kind'], ckpt['config'], ckpt['params'], provenance,
                       ckpt['official_tensors'])


READER = Reader(
    NAME, f'a converted model directory (with {checkpointing.CONFIG_FILE}; '
    '`python -m vjepa_jax.tools.convert import`)', checkpointing.is_model_checkpoint, _read)

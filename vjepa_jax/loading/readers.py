"""The registry of checkpoint formats ``vjepa_jax.load`` can read: one ``Reader`` per format.

``load`` asks each registered reader in order whether it ``claims`` the path
and lets the first that does ``read`` it. Built in, in this order:

  ``converted``       our model checkpoint directory (``model_config.json`` +
                      ``params/``; ``python -m vjepa_jax.tools.convert import``)
  ``train_workdir``   a ``python -m vjepa_jax.main`` workdir, its
                      ``checkpoints/`` folder, one ``checkpoints/<step>`` or its
                      ``state`` folder
  ``vjepa2_pretraining_pt``  an official V-JEPA 2 pretraining ``.pt``
  ``vjepa2_probe_pt``        an official V-JEPA 2 probe ``.pt`` (``classifiers``)
  ``vjepa2_hf_dir``          a Hugging Face V-JEPA 2 directory (safetensors)
                      (``vjepa2_files``; told apart by key names)
  ``official_vjepa``  an official V-JEPA ``.pth.tar`` file (pretraining or
                      attentive probe), read without torch; it claims any
                      file, so it is the last resort for files

Adding a format is one new module with one reader::

    from vjepa_jax.loading.loaded_model import LoadedModel, build_model
    from vjepa_jax.loading.provenance import Provenance
    from vjepa_jax.loading.readers import LoadRequest, Reader

    def _claims(path: Path) -> bool:      # cheap: look at names, not arrays
        return path.is_dir() and (path / 'model.safetensors').is_file()

    def _read(request: LoadRequest) -> LoadedModel:
        ...                               # config (module kwargs) and params
        return build_model(kind, config, params,
                           Provenance(str(request.path), 'hf_vjepa2', which=request.which))

    READER = Reader('hf_vjepa2', 'a Hugging Face V-JEPA 2 directory', _claims, _read)

and its ``READER`` in ``_BUILT_IN`` of ``vjepa_jax/loading/__init__.py``
(code outside the package calls ``register_reader(READER,
before='official_vjepa')`` instead). A reader for *files* must come before
``official_vjepa``, which takes every file it is asked about; a reader that
needs the contents to decide (both V-JEPA generations write torch zip files
with ``encoder`` entries) may read the file in ``claims``
(``convert.torch_pickle.load_torch_checkpoint``).
``read`` raises ``CheckpointError`` subclasses naming the path and what to
do, never a bare ``ValueError``. ``build_model`` builds the modules of the
config's ``family`` (``loaded_model.FAMILY_MODULES``: V-JEPA 1 when absent,
``'vjepa2'``); a new family is a row there, with an encoder that has what
``encode`` and ``preprocess`` use: ``apply``, ``input_grid(shape)``,
``num_frames``, ``img_size`` and ``dtype``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vjepa_jax.errors import CheckpointError, ConfigError


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """Nothing at the given path."""


@dataclasses.dataclass(frozen=True)
class LoadRequest:
    """What the caller of ``load`` asked for, handed to a reader.

    Attributes:
      path: absolute path given to ``load``.
      step: training step (workdirs); None: the latest.
      which: ``'target_encoder'``, ``'encoder'`` or None (the target encoder
        when the checkpoint has one, else the encoder).
      all_params: read every params tree (encoder, target encoder, predictor)
        even where only ``which`` is needed (readers that can read trees
        separately, such as training workdirs, read only ``which`` otherwise).
      options: format-specific import options (official files: ``num_heads``,
        ``num_frames``, ``img_size``, ``predictor_num_heads``); None values
        are dropped before they get here.
    """

    path: Path
    step: int | None = None
    which: str | None = None
    all_params: bool = False
    options: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Reader:
    """One checkpoint format.

    Attributes:
      name: the format's name, recorded as ``Provenance.format``.
      description: what a user would point at, for error messages.
      claims: ``path -> bool``, cheap, never raises for a readable path.
      read: ``LoadRequest -> LoadedModel``.
    """

    name: str
    description: str
    claims: Callable[[Path], bool]
    read: Callable[[LoadRequest], Any]


READERS: list[Reader] = []


def register_reader(reader: Reader, *, before: str | None = None) -> None:
    """Adds ``reader`` at the end of ``READERS`` or just before the reader named ``before``.

    Registering a name again replaces the old reader in place (module reloads).
    """
    names = [r.name for r in READERS]
    if reader.name in names:
        READERS[names.index(reader.name)] = reader
        return
    if before is None:
        READERS.append(reader)
        return
    if before not in names:
        raise ConfigError(f'register_reader: no reader named {before!r} (have '
                          f'{", ".join(names)}).')
    READERS.insert(names.index(before), reader)


def find_reader(path: Path) -> Reader | None:
    """The first registered reader that claims ``path``."""
    for reader in READERS:
        if reader.claims(path):
            return reader
    return None


def known_formats() -> str:
    """``'a; b; or c'`` from the readers' descriptions, for error messages."""
    descriptions = [r.description for r in READERS]
    if len(descriptions) < 2:
        return ''.join(descriptions)
    return '; '.join(descriptions[:-1]) + '; or ' + descriptions[-1]

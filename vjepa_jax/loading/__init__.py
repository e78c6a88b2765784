"""The loading front door: ``load(path)`` for every checkpoint format, one ``LoadedModel`` back.

Formats are readers in a registry (``readers``). The built-in ones are
registered here, in detection order; a new format is one module with one
``READER``, added to ``_BUILT_IN`` (see ``readers``).
"""

from vjepa_jax.loading import converted_dir, official_file, train_workdir, vjepa2_files
from vjepa_jax.loading.front_door import CheckpointNotFoundError, load
from vjepa_jax.loading.loaded_model import LoadedModel, NormalizedClips
from vjepa_jax.loading.provenance import Provenance
from vjepa_jax.loading.readers import READERS, LoadRequest, Reader, register_reader

# Directories first; V-JEPA 2 files (told apart by their key names) before the V-JEPA 1
# official reader, which takes any file, so it comes last.
_BUILT_IN = (converted_dir.READER, train_workdir.READER, *vjepa2_files.READERS,
             official_file.READER)
for _reader in _BUILT_IN:
    register_reader(_reader)

__all__ = ['READERS', 'CheckpointNotFoundError', 'LoadRequest', 'LoadedModel', 'NormalizedClips',
           'Provenance', 'Reader', 'load', 'register_reader']

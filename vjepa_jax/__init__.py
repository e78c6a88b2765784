"""vjepa_jax: V-JEPA in JAX/Flax.

``vjepa_jax.load(path)`` reads any checkpoint (official file, converted
directory, training workdir) into a ``LoadedModel``; ``load_pretrained`` and
``Pretrained`` are the old names of ``load`` and ``LoadedModel``.
"""

from vjepa_jax.input.normalize import normalize_video
from vjepa_jax.loading import LoadedModel, NormalizedClips, Provenance, load

load_pretrained = load      # old name of ``load`` (kept as an alias)
Pretrained = LoadedModel    # old name of ``LoadedModel`` (kept as an alias)

__all__ = ['LoadedModel', 'NormalizedClips', 'Pretrained', 'Provenance', 'load',
           'load_pretrained', 'normalize_video']

"""Old names of the loading front door, kept as aliases: use ``vjepa_jax.load`` / ``LoadedModel``."""

from vjepa_jax.loading import LoadedModel, load
from vjepa_jax.loading.official_file import import_official

load_pretrained = load      # alias of ``vjepa_jax.load``
Pretrained = LoadedModel    # alias of ``vjepa_jax.LoadedModel``

__all__ = ['Pretrained', 'import_official', 'load_pretrained']

"""vjepa_jax: V-JEPA in JAX/Flax with official-checkpoint parity."""

from vjepa_jax.pretrained import Pretrained, load_pretrained, normalize_video

__all__ = ['Pretrained', 'load_pretrained', 'normalize_video']
__version__ = '0.1.0'

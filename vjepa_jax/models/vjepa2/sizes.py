"""Official V-JEPA 2 model sizes: ``config_lib``'s variant table with ``family='vjepa2'``.

V-JEPA 2 builds its giant as ``vit_giant_xformers`` with 22 heads of 64
channels and its gigantic with 26 heads (``config_lib._FAMILY_SIZES``). The
V-JEPA 2 gigantic builder misspells ``mlp_ratio``, so it really runs with
4 x 1664 = 6656 (V-JEPA 2.1 spells it: 8192, see ``GIGANTIC_2_1_MLP``).
"""

from __future__ import annotations

from vjepa_jax.config_lib import Variant, decode_variant

FAMILY = 'vjepa2'

GIGANTIC_2_1_MLP = 8192
PREDICTOR = {'embed_dim': 384, 'depth': 12, 'num_heads': 12, 'mlp_dim': 1536}

VARIANTS: dict[str, Variant] = {name: decode_variant(name, FAMILY)
                                for name in ('large', 'huge', 'giant', 'gigantic')}
ENCODER_HEADS_BY_WIDTH = {v.embed_dim: v.num_heads for v in VARIANTS.values()}
PREDICTOR_HEADS_BY_WIDTH = {PREDICTOR['embed_dim']: PREDICTOR['num_heads']}


def decode_vjepa2_variant(name: str) -> Variant:
    """``"L/16"``, ``"vit_giant_xformers"``, ``"g"`` ... -> the V-JEPA 2 size (custom
    ``w..d..h..`` names as in ``config_lib.decode_variant``)."""
    return decode_variant(name, FAMILY)

"""The declarative key table: every official key, our param path and the layout change between them.

``"{i}"`` is the block index and ``"{j}"`` the mask-token index; nested
tuples are repeated per block. ``expand`` instantiates a table for a depth.
Layout kinds are described in ``convert.layouts``.
"""

from __future__ import annotations

import dataclasses

BACKBONE_PREFIX = 'module.backbone.'
CLASSIFIER_PREFIX = 'module.'

# (official key, our param path, layout change).
BLOCK_KEYS = (
    ('norm1.weight', 'norm1/scale', 'copy'),
    ('norm1.bias', 'norm1/bias', 'copy'),
    ('attn.qkv.weight', 'attn/qkv/kernel', 'heads_in'),
    ('attn.qkv.bias', 'attn/qkv/bias', 'reshape'),
    ('attn.proj.weight', 'attn/proj/kernel', 'heads_out'),
    ('attn.proj.bias', 'attn/proj/bias', 'copy'),
    ('norm2.weight', 'norm2/scale', 'copy'),
    ('norm2.bias', 'norm2/bias', 'copy'),
    ('mlp.fc1.weight', 'mlp/fc1/kernel', 'linear'),
    ('mlp.fc1.bias', 'mlp/fc1/bias', 'copy'),
    ('mlp.fc2.weight', 'mlp/fc2/kernel', 'linear'),
    ('mlp.fc2.bias', 'mlp/fc2/bias', 'copy'),
)
ENCODER_KEYS = (
    ('pos_embed', None, 'table'),
    ('patch_embed.proj.weight', 'patch_embed/kernel', 'conv3d'),
    ('patch_embed.proj.bias', 'patch_embed/bias', 'copy'),
    ('blocks.{i}.', 'blocks/layer_{i}/', BLOCK_KEYS),
    ('norm.weight', 'norm/scale', 'copy'),
    ('norm.bias', 'norm/bias', 'copy'),
)
PREDICTOR_KEYS = (
    ('predictor_pos_embed', None, 'table'),
    ('predictor_embed.weight', 'predictor_embed/kernel', 'linear'),
    ('predictor_embed.bias', 'predictor_embed/bias', 'copy'),
    ('mask_tokens.{j}', 'mask_tokens', 'row'),
    ('predictor_blocks.{i}.', 'predictor_blocks/layer_{i}/', BLOCK_KEYS),
    ('predictor_norm.weight', 'predictor_norm/scale', 'copy'),
    ('predictor_norm.bias', 'predictor_norm/bias', 'copy'),
    ('predictor_proj.weight', 'predictor_proj/kernel', 'linear'),
    ('predictor_proj.bias', 'predictor_proj/bias', 'copy'),
)
_XBLOCK = 'pooler.cross_attention_block.'
_OUR_XBLOCK = 'pooler/cross_attention_block/'
CLASSIFIER_KEYS = (
    ('pooler.query_tokens', 'pooler/query_tokens', 'query'),
    (_XBLOCK + 'norm1.weight', _OUR_XBLOCK + 'norm1/scale', 'copy'),
    (_XBLOCK + 'norm1.bias', _OUR_XBLOCK + 'norm1/bias', 'copy'),
    (_XBLOCK + 'xattn.q.weight', _OUR_XBLOCK + 'xattn/q/kernel', 'heads_in'),
    (_XBLOCK + 'xattn.q.bias', _OUR_XBLOCK + 'xattn/q/bias', 'reshape'),
    (_XBLOCK + 'xattn.kv.weight', _OUR_XBLOCK + 'xattn/kv/kernel', 'heads_in'),
    (_XBLOCK + 'xattn.kv.bias', _OUR_XBLOCK + 'xattn/kv/bias', 'reshape'),
    (_XBLOCK + 'xattn.proj.weight', None, 'unused'),
    (_XBLOCK + 'xattn.proj.bias', None, 'unused'),
    (_XBLOCK + 'norm2.weight', _OUR_XBLOCK + 'norm2/scale', 'copy'),
    (_XBLOCK + 'norm2.bias', _OUR_XBLOCK + 'norm2/bias', 'copy'),
    (_XBLOCK + 'mlp.fc1.weight', _OUR_XBLOCK + 'mlp/fc1/kernel', 'linear'),
    (_XBLOCK + 'mlp.fc1.bias', _OUR_XBLOCK + 'mlp/fc1/bias', 'copy'),
    (_XBLOCK + 'mlp.fc2.weight', _OUR_XBLOCK + 'mlp/fc2/kernel', 'linear'),
    (_XBLOCK + 'mlp.fc2.bias', _OUR_XBLOCK + 'mlp/fc2/bias', 'copy'),
    ('pooler.blocks.{i}.', 'pooler/blocks_{i}/', BLOCK_KEYS),
    ('linear.weight', 'linear/kernel', 'linear'),
    ('linear.bias', 'linear/bias', 'copy'),
)


@dataclasses.dataclass(frozen=True)
class Entry:
    official: str           # key without the DDP prefix
    path: str | None        # our param path ("a/b/c"), None for table / unused
    kind: str
    row: int | None = None  # mask-token index for kind "row"


def expand(table: tuple, depth: int = 0, num_rows: int = 0) -> list[Entry]:
    """The table instantiated for ``depth`` blocks and ``num_rows`` mask tokens, in official order."""
    out = []
    for official, ours, kind in table:
        if isinstance(kind, tuple):
            for i in range(depth):
                out += [Entry(official.format(i=i) + o, ours.format(i=i) + p, k)
                        for o, p, k in kind]
        elif '{j}' in official:
            out += [Entry(official.format(j=j), ours, kind, j) for j in range(num_rows)]
        else:
            out.append(Entry(official, ours, kind))
    return out

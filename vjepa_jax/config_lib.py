"""Experiment-file helpers: the model variant table and argument parsing.

The variant table is the one place that decodes names such as ``"L/16"`` into
encoder widths, depths and head counts. Official sizes follow the
``vit_*`` builders of the official V-JEPA code. Config sections (the objects a
config's sections configure) are in ``config_sections``.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import re
from typing import Any

import ml_collections


@dataclasses.dataclass(frozen=True)
class Variant:
    """Encoder architecture: width, depth, heads and MLP hidden size."""

    embed_dim: int
    depth: int
    num_heads: int
    mlp_dim: int
    patch_size: int = 16

    def as_kwargs(self) -> dict[str, int]:
        return dataclasses.asdict(self)


# name -> (width, depth, heads, mlp hidden, default patch). MLP hidden sizes are
# int(width * mlp_ratio) as the official builders compute them. The official
# `vit_gigantic` builder misspells `mlp_ratio` (as `mpl_ratio`), so the official
# gigantic model really runs with mlp_ratio 4 -> 6656; we follow the code, not
# the intended 64/13 (8192).
_OFFICIAL = {
        'tiny': (192, 12, 3, 768, 16),
        'small': (384, 12, 6, 1536, 16),
        'base': (768, 12, 12, 3072, 16),
        'large': (1024, 24, 16, 4096, 16),
        'huge': (1280, 32, 16, 5120, 16),
        'giant': (1408, 40, 16, 6144, 16),
        'gigantic': (1664, 48, 16, 6656, 14),
}
_ALIASES = {
        'ti': 'tiny', 's': 'small', 'b': 'base', 'l': 'large', 'h': 'huge',
        'g': 'giant', 'gg': 'gigantic',
}
# big_vision style: lower-case g is giant, upper-case G is gigantic.
_CASE_SENSITIVE = {'g': 'giant', 'G': 'gigantic'}

OFFICIAL_HEADS_BY_WIDTH = {v[0]: v[2] for v in _OFFICIAL.values()}

# Model families: V-JEPA 1 (learned / sincos position table) and V-JEPA 2 (RoPE).
# V-JEPA 2 builds its giant as `vit_giant_xformers` (22 heads of 64 channels)
# and its gigantic with 26 heads and patch 16; every other size is shared.
FAMILIES = ('vjepa', 'vjepa2')
_FAMILY_SIZES = {
        'vjepa': {},
        'vjepa2': {'giant': (1408, 40, 22, 6144, 16), 'gigantic': (1664, 48, 26, 6656, 16)},
}

_CUSTOM = re.compile(r'^w(\d+)d(\d+)h(\d+)(?:m(\d+))?$')


def variant_names() -> list[str]:
    return sorted(_OFFICIAL)


def decode_variant(name: str, family: str = 'vjepa') -> Variant:
    """Decodes a model variant name of model ``family`` (``FAMILIES``).

    Accepted forms (patch size after an optional ``/``):
        * official sizes: ``tiny small base large huge giant gigantic``, the
            official builder names ``vit_large`` ..., or the short forms
            ``Ti S B L H g G`` (``g`` giant, ``G`` gigantic), e.g. ``"L/16"``;
        * custom: ``w{width}d{depth}h{heads}[m{mlp_hidden}]``, e.g.
            ``"w104d3h4/16"`` (MLP hidden defaults to 4 x width).

    V-JEPA 2 names may carry the builders' ``_xformers`` suffix.
    """
    if family not in FAMILIES:
        raise ValueError(f'Unknown model family {family!r}; use one of {list(FAMILIES)}.')
    base, _, patch = name.strip().partition('/')
    if patch and not patch.isdigit():
        raise ValueError(f'Variant {name!r}: patch size after "/" must be an integer.')
    key = base.removeprefix('vit_')
    if family == 'vjepa2':
        key = key.removesuffix('_xformers')
    custom = _CUSTOM.match(key)
    if custom:
        width, depth, heads = (int(custom.group(i)) for i in (1, 2, 3))
        mlp = int(custom.group(4)) if custom.group(4) else 4 * width
        default_patch = 16
    else:
        key = _CASE_SENSITIVE.get(key) or _ALIASES.get(key.lower()) or key.lower()
        if key not in _OFFICIAL:
            raise ValueError(
                    f'Unknown model variant {name!r}. Use one of {variant_names()} (or '
                    'Ti/S/B/L/H/g/G, optionally with "/patch"), or a custom '
                    '"w<width>d<depth>h<heads>[m<mlp>]/<patch>" such as "w104d3h4/16".')
        width, depth, heads, mlp, default_patch = _FAMILY_SIZES[family].get(key, _OFFICIAL[key])
    if width % heads:
        raise ValueError(f'Variant {name!r}: width {width} is not divisible by {heads} heads.')
    return Variant(width, depth, heads, mlp, int(patch) if patch else default_patch)


def parse_arg(arg: str | None, lazy: bool = False, **spec: Any) -> ml_collections.ConfigDict:
    """Parses ``"variant=L/16,runlocal"`` into a ConfigDict typed by ``spec``.

    ``spec`` gives every allowed key with its default; values are converted to
    the default's type (bools accept ``true/false/1/0`` and a bare key means
    True). Unknown keys are an error unless ``lazy`` is set, in which case they
    are kept as strings.
    """
    result = ml_collections.ConfigDict(dict(spec))
    if not arg:
        return result
    for item in filter(None, (s.strip() for s in arg.split(','))):
        key, eq, value = item.partition('=')
        if key not in spec:
            if not lazy:
                raise ValueError(f'Unknown config argument {key!r}; known: {sorted(spec)}.')
            result[key] = value if eq else True
            continue
        default = spec[key]
        if isinstance(default, bool):
            if not eq or value.lower() in ('1', 'true', 'yes'):
                result[key] = True
            elif value.lower() in ('0', 'false', 'no'):
                result[key] = False
            else:
                raise ValueError(f'Config argument {key}={value!r} is not a boolean.')
        elif not eq:
            raise ValueError(f'Config argument {key!r} needs a value ({key}=...).')
        elif default is None or isinstance(default, str):
            result[key] = value
        else:
            result[key] = type(default)(value)
    return result


def mesh_spec_problem(mesh: Any) -> str | None:
    """What is wrong with a config's ``mesh`` (``(('data', -1), ('fsdp', 1), ...)``), or None.

    A mesh given on the command line as one tuple per flag, or as a bare
    string, comes out flattened; the message shows the one-flag form.
    """
    pairs = not isinstance(mesh, str) and all(
        isinstance(axis, tuple | list) and len(axis) == 2 and isinstance(axis[0], str)
        and isinstance(axis[1], int) and not isinstance(axis[1], bool) for axis in mesh)
    if pairs and len(mesh):
        return None
    return (f'mesh {mesh!r}: give (axis name, size) pairs in one flag, e.g. '
            "--config.mesh=\"(('data',-1),('fsdp',1),('tensor',1))\".")


def index_file_problems(key: str, files: Any) -> list[str]:
    """Entries of an index-file field (``data.index_files`` ...) that are not paths."""
    return [f'{key}: {f!r} is not a path (give strings, e.g. '
            f'--config.{key}="(\'/d/a.csv\', \'/d/b.csv\')").'
            for f in files if f and not isinstance(f, str)]


def load_experiment(path: str, arg: str | None = None) -> Any:
    """``get_config(arg)`` of an experiment file (``experiments/...py``), outside the flags."""
    spec = importlib.util.spec_from_file_location('_vjepa_experiment', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config() if arg is None else module.get_config(arg)


"""Experiment-file helpers: the model variant table, argument parsing, config sections.

The variant table is the one place that decodes names such as ``"L/16"`` into
encoder widths, depths and head counts. Official sizes follow the
``vit_*`` builders of the official V-JEPA code.

A config section is the keyword arguments of a frozen dataclass that derives
from ``ConfigSection`` (``ClipConfig(**config.data)``): the dataclass holds the
knobs' defaults and its own checks (``problems()``, run on construction), and
``config_section`` writes its fields into a ``ConfigDict`` (``None`` defaults as
typed placeholders, so the command line can still set them). ``build_section``
builds one from a config and returns its problems instead of raising, so a
whole config's mistakes are reported together.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import re
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

import ml_collections
from ml_collections.config_dict import placeholder

from vjepa_jax.errors import ConfigError

T = TypeVar('T')


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

_CUSTOM = re.compile(r'^w(\d+)d(\d+)h(\d+)(?:m(\d+))?$')


def variant_names() -> list[str]:
    return sorted(_OFFICIAL)


def decode_variant(name: str) -> Variant:
    """Decodes a model variant name.

    Accepted forms (patch size after an optional ``/``):
        * official sizes: ``tiny small base large huge giant gigantic``, the
            official builder names ``vit_large`` ..., or the short forms
            ``Ti S B L H g G`` (``g`` giant, ``G`` gigantic), e.g. ``"L/16"``;
        * custom: ``w{width}d{depth}h{heads}[m{mlp_hidden}]``, e.g.
            ``"w104d3h4/16"`` (MLP hidden defaults to 4 x width).
    """
    base, _, patch = name.strip().partition('/')
    if patch and not patch.isdigit():
        raise ValueError(f'Variant {name!r}: patch size after "/" must be an integer.')
    key = base.removeprefix('vit_')
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
        width, depth, heads, mlp, default_patch = _OFFICIAL[key]
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


# --------------------------------------------------------------------------- config sections


class SectionError(ConfigError):
    """A config section that cannot be built; ``problems`` lists every reason, one line each."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__('Invalid config:\n  - ' + '\n  - '.join(self.problems))


class ConfigSection:
    """Base of a section's frozen dataclass: ``problems()`` are raised as one ``SectionError``.

    Subclasses override ``problems`` (calling ``super().problems()``) and name
    each field as ``section.field`` so the message says what to change.
    """

    def problems(self) -> list[str]:
        return []

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise SectionError(problems)


def build_section(cls: type[T], name: str, values: Mapping[str, Any] | T) -> tuple[T | None, list[str]]:
    """``(cls(**values), [])``, or ``(None, problems)`` when the section cannot be built."""
    if isinstance(values, cls):
        return values, []
    if values is None:
        return None, [f'{name} is missing: give the section ({", ".join(_field_names(cls))}).']
    if isinstance(values, ml_collections.ConfigDict):
        values = values.to_dict()
    known = set(_field_names(cls))
    unknown = sorted(set(values) - known)
    if unknown:
        return None, [f'{name}.{k} is not a field of {name} (fields: {", ".join(sorted(known))}).'
                      for k in unknown]
    try:
        return cls(**values), []
    except SectionError as e:
        return None, e.problems
    except TypeError as e:  # a required field left out
        return None, [f'{name}: {e}']


def config_section(cls: type, *, exclude: tuple[str, ...] = (), **values: Any) -> ml_collections.ConfigDict:
    """A ``ConfigDict`` with every field of ``cls`` (minus ``exclude``): ``values`` or the defaults.

    A field left ``None`` becomes an ``ml_collections`` placeholder of its
    annotated type, so ``--config.section.field=...`` can set it; nested
    ``ConfigSection`` fields become nested sections.
    """
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(values) - set(_field_names(cls)))
    if unknown:
        raise ConfigError(f'{cls.__name__} has no field(s) {unknown}; fields: {_field_names(cls)}.')
    section = ml_collections.ConfigDict()
    for field in dataclasses.fields(cls):
        if field.name in exclude:
            continue
        if field.name in values:
            value = values[field.name]
        elif field.default is not dataclasses.MISSING:
            value = field.default
        elif field.default_factory is not dataclasses.MISSING:
            value = field.default_factory()
        else:
            value = None
        kind = _concrete_type(hints[field.name])
        if isinstance(kind, type) and issubclass(kind, ConfigSection):
            given = value if isinstance(value, Mapping) else (
                dataclasses.asdict(value) if dataclasses.is_dataclass(value) else {})
            section[field.name] = config_section(kind, **dict(given))
        elif value is None:
            section[field.name] = placeholder(kind)
        else:
            section[field.name] = tuple(value) if isinstance(value, list) else value
    return section


def _field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _concrete_type(hint: Any) -> Any:
    """``int | None`` -> ``int``; ``tuple[str, ...]`` -> ``tuple``; other hints as they are."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        hint = args[0] if len(args) == 1 else object
    return typing.get_origin(hint) or hint

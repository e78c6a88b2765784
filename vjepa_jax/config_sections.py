"""Config sections: a section of a config is the keyword arguments of a frozen dataclass.

A section's dataclass derives from ``ConfigSection``: it holds the knobs'
defaults and its own checks (``problems()``, run on construction, each naming
its field as ``section.field``). ``config_section`` writes the dataclass's
fields into a ``ConfigDict`` (``None`` defaults as typed placeholders, so the
command line can still set them); ``build_section`` builds one from a config
and returns its problems instead of raising, so a whole config's mistakes are
reported together (``train/config.py``, ``evaluation/config.py``). A plain frozen
dataclass with a ``problems()`` method (the probe's sections) works too: its
messages start at the field's name and get the section's name in front.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

import ml_collections
from ml_collections import config_dict

from vjepa_jax.errors import ConfigError

T = TypeVar('T')


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
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    try:
        obj = cls(**values)
    except SectionError as e:
        return None, e.problems
    except TypeError as e:  # a required field left out
        return None, [f'{name}: {e}']
    if not isinstance(obj, ConfigSection) and hasattr(obj, 'problems'):
        # A plain dataclass with checks: its messages start at the field's name.
        problems = [f'{name}.{p}' for p in obj.problems()]
        return (None, problems) if problems else (obj, [])
    return obj, []


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
        elif value is None or _optional(hints[field.name]):
            # Typed, so an optional field can hold None and still take a flag (and back).
            section[field.name] = config_dict.FieldReference(
                tuple(value) if isinstance(value, list) else value, field_type=kind)
        else:
            section[field.name] = tuple(value) if isinstance(value, list) else value
    return section


def _optional(hint: Any) -> bool:
    return type(None) in typing.get_args(hint)


def _field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _concrete_type(hint: Any) -> Any:
    """``int | None`` -> ``int``; ``tuple[str, ...]`` -> ``tuple``; other hints as they are."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        hint = args[0] if len(args) == 1 else object
    return typing.get_origin(hint) or hint

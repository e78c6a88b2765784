"""Config sections that are the keyword arguments of a frozen dataclass (one schema per knob).

A section of an experiment config (``config.clip``, ``config.optimizer`` ...)
has exactly the fields of the dataclass it configures, so the dataclass's
defaults are the only defaults and ``Cls(**config.section)`` is the only
translation. ``section(Cls, **values)`` writes the section from the class
(``X | None`` fields become typed ``FieldReference``s, so a None can be
overridden from the command line); ``build_section(Cls, name, section, problems)`` builds the
object back and appends its own checks (``Cls.problems()``, each message
starting with the field's name) as ``name.field ...`` messages.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, TypeVar

import ml_collections
from ml_collections import config_dict

T = TypeVar('T')

_COMMAND_LINE_TYPES = (bool, int, float, str, tuple)


def _placeholder_type(annotation: Any) -> type:
    """The command-line type of an ``X | None`` annotation (``tuple[...]`` -> tuple)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    kind = (typing.get_origin(args[0]) or args[0]) if len(args) == 1 else None
    if kind not in _COMMAND_LINE_TYPES:
        raise TypeError(f'{annotation!r}: a None default needs a bool, int, float, str or '
                        'tuple type for the command line.')
    return kind


def _optional(annotation: Any) -> bool:
    return type(None) in typing.get_args(annotation)


def section(cls: type, **values: Any) -> ml_collections.ConfigDict:
    """``cls``'s fields as a ConfigDict section: its defaults, replaced by ``values``.

    Fields typed ``X | None`` are typed ``FieldReference``s (a None default is a
    ``placeholder``), so they can hold None and the command line can set them.
    """
    hints = typing.get_type_hints(cls)
    unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise TypeError(f'{cls.__name__} has no field {sorted(unknown)}.')
    out = ml_collections.ConfigDict()
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        if f.name in values:
            value = values[f.name]
        elif f.default is not dataclasses.MISSING:
            value = f.default
        elif f.default_factory is not dataclasses.MISSING:
            value = f.default_factory()
        else:
            raise TypeError(f'{cls.__name__}.{f.name} has no default; give it in values.')
        if _optional(hints[f.name]):  # typed, so it can hold None and still take a flag
            value = config_dict.FieldReference(value, field_type=_placeholder_type(
                hints[f.name]))
        out[f.name] = value
    return out


def _plain(value: Any) -> Any:
    """Lists from Python code become tuples (frozen dataclasses hash their fields)."""
    if isinstance(value, list):
        return tuple(_plain(v) for v in value)
    return value


def build_section(cls: type[T], name: str, values: ml_collections.ConfigDict | dict,
                  problems: list[str]) -> T | None:
    """``cls(**values)``, its ``problems()`` appended to ``problems`` as ``name.field ...``.

    Returns None (and adds a problem) when the section has fields ``cls`` does not take.
    """
    kwargs = {k: _plain(v) for k, v in dict(values).items()}
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    extra = sorted(set(kwargs) - names)
    if extra:
        problems.append(f'{name}: no field {", ".join(extra)}; the fields of {name} are '
                        f'{", ".join(sorted(names))}.')
        return None
    obj = cls(**kwargs)
    check = getattr(obj, 'problems', None)
    if check is not None:
        problems.extend(f'{name}.{p}' for p in check())
    return obj

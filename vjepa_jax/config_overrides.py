"""``--config FILE[:arg] --config.a.b=value``: parse the command line, one-line errors.

ml_collections' config flag (``config_flags.DEFINE_config_file``) lets every
field of the experiment file's config be set from the command line, but a
misspelt field ends in a raw ``AttributeError`` / ``KeyError`` traceback, a
value of the wrong type in absl's ``FATAL Flags parsing error`` (exit 1), and a
missing experiment file in an ``OSError`` traceback on first use. ``parse_flags``
parses argv as absl's ``app.run`` would and turns those mistakes into a
``ConfigOverrideError`` whose message is one line, e.g.::

    no field data.datasets; the fields of data are: bad_fraction_threshold, ...
    --config.batch_size=abc: batch_size takes an integer (it is 8), not 'abc'

Use it as the flags parser of ``app.run`` (``vjepa_jax.main``)::

    try:
        app.run(main, flags_parser=config_overrides.parse_flags)
    except config_overrides.ConfigOverrideError as e:
        print(f'error: {e}', file=sys.stderr)
        sys.exit(2)

``parse_config(argv)`` does the same parse and returns the config (tests,
other tools). How each field type is read from the command line (tuples in
particular) is in docs/running.md, "Overriding config fields".
"""

from __future__ import annotations

import contextlib
import difflib
import os
import re
import sys
import textwrap
from collections.abc import Iterator, Sequence
from typing import Any

import ml_collections
from absl import flags
from ml_collections.config_flags import config_path, tuple_parser

from vjepa_jax.config_lib import load_experiment
from vjepa_jax.errors import ConfigError

ConfigDict = ml_collections.ConfigDict


class ConfigOverrideError(ConfigError):
    """A mistake in ``--config FILE[:arg]`` or a ``--config.field=value``; one line."""


def parse_flags(argv: Sequence[str], *, name: str = 'config',
                flag_values: flags.FlagValues | None = None) -> list[str]:
    """absl ``app.run`` flags parser: parses ``argv``, returns the arguments left for main.

    Raises ``ConfigOverrideError`` for a missing experiment file, a bad
    experiment argument, an unknown field or a value of the wrong type. Other
    flag errors end as absl's own parser ends them (its message, exit 1).
    """
    try:
        return _parse(argv, name, flag_values or flags.FLAGS)
    except flags.Error as error:  # not about the config: what absl's parser does
        message = str(error)
        message = f':\n{textwrap.indent(message, "  ")}' if '\n' in message else f': {message}'
        sys.stderr.write(f'FATAL Flags parsing error{message}\n'
                         'Pass --helpshort or --helpfull to see help on flags.\n')
        sys.exit(1)


def parse_config(argv: Sequence[str], *, name: str = 'config',
                 flag_values: flags.FlagValues | None = None) -> Any:
    """Parses ``argv`` into ``flag_values`` and returns the config of flag ``name``.

    Raises ``ConfigOverrideError`` as ``parse_flags`` does; other flag errors
    are raised as absl's ``flags.Error``.
    """
    flag_values = flag_values or flags.FLAGS
    _parse(argv, name, flag_values)
    return flag_values[name].value


def _parse(argv: Sequence[str], name: str, flag_values: flags.FlagValues) -> list[str]:
    argv = list(argv)
    expanded = flag_values.read_flags_from_files(argv, force_gnu=False)
    spec = _config_spec(expanded, name)
    if spec is not None:
        problem = _missing_file(spec, name)
        if problem:
            raise ConfigOverrideError(problem)
    # The config flag reads its overrides from sys.argv (unless it was defined
    # with sys_argv=): let it see the argv being parsed.
    with _sys_argv(argv):
        try:
            return flag_values(argv)
        except (AttributeError, KeyError, IndexError, flags.Error):
            problem = diagnose(expanded, name) if spec is not None else None
            if problem:
                raise ConfigOverrideError(problem) from None
            raise


@contextlib.contextmanager
def _sys_argv(argv: list[str]) -> Iterator[None]:
    saved = sys.argv
    sys.argv = argv
    try:
        yield
    finally:
        sys.argv = saved


def _config_spec(argv: Sequence[str], name: str) -> str | None:
    """The value of ``--name`` (``FILE[:arg]``) in argv, the last one given, or None."""
    spec = None
    pattern = re.compile(rf'^--?{re.escape(name)}(=|$)')
    for i, arg in enumerate(argv[1:], 1):
        if arg == '--':
            break
        if pattern.match(arg):
            if '=' in arg:
                spec = arg.split('=', 1)[1]
            elif i + 1 < len(argv):
                spec = argv[i + 1]
    return spec


def _missing_file(spec: str, name: str) -> str | None:
    path = spec.split(':', 1)[0]
    if not path:
        return f'--{name} is empty: give an experiment file, e.g. experiments/pretrain/tiny.py.'
    if os.path.isfile(path):
        return None
    folder = os.path.dirname(path) or '.'
    others = sorted(f for f in os.listdir(folder) if f.endswith('.py')) if os.path.isdir(
        folder) else []
    close = difflib.get_close_matches(os.path.basename(path), others, n=3)
    hint = (f'; did you mean {_either([os.path.join(folder, f) for f in close])}?' if close
            else f'; {folder} has {", ".join(others)}' if others else '')
    return f'--{name} {spec}: no file {path}{hint}'


def diagnose(argv: Sequence[str], name: str = 'config') -> str | None:
    """The first mistake in argv's ``--name FILE[:arg]`` / ``--name.field=value``, or None.

    Loads the experiment file itself (only called once parsing has failed).
    """
    spec = _config_spec(argv, name)
    if spec is None:
        return None
    missing = _missing_file(spec, name)
    if missing:
        return missing
    path, _, arg = spec.partition(':')
    try:
        config = load_experiment(path, arg if ':' in spec else None)
    except ValueError as e:  # the experiment's argument parser: what to change
        return f'--{name} {spec}: {e}'
    except Exception:  # noqa: BLE001 - a bug in the file: let the original error show
        return None
    for field, value, negated, following in _overrides(argv, name):
        problem = _check_override(config, name, field, value, negated, following)
        if problem:
            return problem
    return None


def _overrides(argv: Sequence[str], name: str) -> Iterator[tuple[str, str | None, bool, str]]:
    """``(field path, value after '=' or None, negated, next argument or '')`` per override."""
    pattern = re.compile(rf'^--?(no)?{re.escape(name)}\.')
    for i, arg in enumerate(argv[1:], 1):
        if arg == '--':
            break
        match = pattern.match(arg)
        if match:
            flag, eq, value = arg.partition('=')
            following = argv[i + 1] if i + 1 < len(argv) else ''
            yield flag.split('.', 1)[1], value if eq else None, bool(match.group(1)), following


_KINDS = {bool: 'true or false', int: 'an integer', float: 'a number', tuple: 'a tuple'}
_PARSERS = {bool: flags.BooleanParser(), int: flags.IntegerParser(),
            float: flags.FloatParser(), tuple: tuple_parser.TupleParser()}


def _check_override(config: Any, name: str, field: str, value: str | None, negated: bool,
                    following: str) -> str | None:
    raw = f'--{"no" if negated else ""}{name}.{field}' + ('' if value is None else f'={value}')
    try:
        parts = config_path.split(field)
    except ValueError:
        return f'{raw}: {field!r} is not a field name (write --{name}.section.field=value).'
    node, done = config, []
    for part in parts:
        if isinstance(node, ConfigDict) and isinstance(part, str):
            if part not in node:
                return _no_field(config, node, done, part, field)
            node = node[part]
        else:
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                where = '.'.join(map(str, done)) or 'the config'
                return (f'no field {field}: {where} is {type(node).__name__} {node!r}, '
                        'not a section.')
        done.append(part)
    if isinstance(node, ConfigDict):
        return None  # a whole section, given as a dict literal
    try:
        kind = config_path.get_type(field, config)
    except Exception:  # noqa: BLE001 - let ml_collections report it
        kind = type(node)
    if kind not in (bool, int, float, str, tuple):
        return (f'{raw}: {field} holds {type(node).__name__} {node!r}, which the command line '
                'cannot set (ml_collections overrides bool, int, float, str and tuple fields).')
    if kind is bool and (negated or value is None):
        return None  # --name.flag / --noname.flag
    if negated:
        return f'{raw}: --no{name}.field is for true/false fields; {field} is {node!r}.'
    if value is None:  # --name.field VALUE
        if not following:
            return f'{raw}: give a value, --{name}.{field}=...'
        value = following
    if kind is str:
        return None
    try:
        _PARSERS[kind].parse(value)
    except (ValueError, TypeError):
        shown = f'--{name}.{field}={value}'
        if kind is tuple:
            return (f'{shown}: {field} takes a tuple (it is {node!r}); quote each element and '
                    f'separate them with commas, e.g. --{name}.{field}="(\'a\', \'b\')", or '
                    'repeat the flag once per element.')
        return f'{shown}: {field} takes {_KINDS[kind]} (it is {node!r}), not {value!r}.'
    return None


def _no_field(config: ConfigDict, section: ConfigDict, done: list, key: str,
              field: str) -> str:
    prefix = ''.join(f'{p}.' for p in done)
    keys = sorted(section.keys())
    close = difflib.get_close_matches(key, keys, n=3)
    if close:
        return f'no field {field}; did you mean {_either([prefix + k for k in close])}?'
    elsewhere = [p for p in _field_paths(config) if p.rsplit('.', 1)[-1] == key]
    if elsewhere:
        return f'no field {field}; did you mean {_either(elsewhere)}?'
    where = f'the fields of {prefix[:-1]} are' if prefix else 'the top-level fields are'
    return f'no field {field}; {where}: {", ".join(keys)}.'


def _field_paths(config: ConfigDict, prefix: str = '') -> list[str]:
    paths = []
    for key in sorted(config.keys()):
        paths.append(prefix + key)
        if isinstance(config[key], ConfigDict):
            paths += _field_paths(config[key], f'{prefix}{key}.')
    return paths


def _either(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f'{", ".join(names[:-1])} or {names[-1]}'

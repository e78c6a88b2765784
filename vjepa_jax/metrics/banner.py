"""The start-of-run banner: devices, mesh, batch, parameter counts and the resolved config.

``banner_text`` gives the text :meth:`vjepa_jax.metrics.MetricsWriter.banner` prints;
the config is shown grouped by top-level section, one wrapped
``section: key=value ...`` line group each, nested keys dotted (``a.b``, ``c[0].d``).
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax

from vjepa_jax.metrics.human_format import format_count

_BANNER_WIDTH = 100


def banner_text(*, workdir: Path, plain_config: Any = None, mesh: Any = None,
                global_batch: int | None = None, param_counts: Mapping[str, int] | None = None,
                sharding_note: str = '') -> str:
    """The banner: this process's view of the devices, then each given item.

    Args:
      workdir: the run directory (shown absolute).
      plain_config: the resolved config as plain nested dicts (``to_plain``).
      mesh: a ``jax.sharding.Mesh`` or a mapping axis name -> size.
      global_batch: clips per global step.
      param_counts: e.g. ``{'encoder': n, 'predictor': m}``.
      sharding_note: one line on params whose rule-given layout did not divide
        the mesh; '' when none.
    """
    devices = jax.devices()
    kinds = sorted({d.device_kind for d in devices})
    lines = [
        '=' * 20 + ' vjepa_jax ' + '=' * 20,
        (f'devices: {len(devices)} x {"/".join(kinds)} ({devices[0].platform}), '
         f'{jax.process_count()} process(es), {jax.local_device_count()} local'),
    ]
    if mesh is not None:
        lines.append(f'mesh: {_format_mesh(mesh)}')
    if sharding_note:
        lines.append(sharding_note)
    if global_batch is not None:
        lines.append(f'global batch: {global_batch} clips')
    if param_counts:
        lines.append('params: ' + ', '.join(f'{name} {format_count(n)} ({n:,})'
                                            for name, n in param_counts.items()))
    lines.append(f'workdir: {workdir.absolute()}')
    if plain_config is not None:
        lines.append('config:')
        lines.extend(format_config(plain_config))
    return '\n'.join(lines)


def _format_mesh(mesh: Any) -> str:
    shape = mesh.shape if hasattr(mesh, 'shape') else mesh  # Mesh.shape is name -> size
    return ' x '.join(f'{name}={size}' for name, size in dict(shape).items())


def to_plain(config: Any) -> Any:
    """ConfigDict / FrozenConfigDict / nested mappings -> plain nested dicts."""
    if hasattr(config, 'to_dict'):
        config = config.to_dict()
    if isinstance(config, Mapping):
        return {str(k): to_plain(v) for k, v in config.items()}
    if isinstance(config, (list, tuple)):
        return [to_plain(v) for v in config]
    return config


def _format_value(value: Any) -> str:
    if isinstance(value, str):
        return value if value and not any(c.isspace() for c in value) else repr(value)
    try:
        return json.dumps(value, separators=(',', ':'))
    except (TypeError, ValueError):
        return repr(value)


def _is_section(value: Any) -> bool:
    """Non-empty mappings and lists of mappings are expanded into dotted keys."""
    if isinstance(value, Mapping):
        return bool(value)
    return bool(value) and isinstance(value, list) and all(isinstance(v, Mapping) for v in value)


def _flatten(tree: Any, prefix: str = '') -> list[tuple[str, Any]]:
    """``{'a': {'b': 1}, 'c': [{'d': 2}]}`` -> ``[('a.b', 1), ('c[0].d', 2)]``."""
    if isinstance(tree, Mapping):
        children = [(f'{prefix}.{k}' if prefix else str(k), tree[k]) for k in sorted(tree)]
    else:
        children = [(f'{prefix}[{i}]', v) for i, v in enumerate(tree)]
    items = []
    for key, value in children:
        if _is_section(value):
            items.extend(_flatten(value, key))
        else:
            items.append((key, value))
    return items


def format_config(plain: Any) -> list[str]:
    """One wrapped ``section: key=value ...`` line group per top-level section."""
    if not isinstance(plain, Mapping):
        return [f'  {_format_value(plain)}']
    top = [(k, v) for k, v in sorted(plain.items()) if not _is_section(v)]
    groups: list[tuple[str, list[tuple[str, Any]]]] = []
    if top:
        groups.append(('', top))
    for key in sorted(plain):
        if _is_section(plain[key]):
            # Strip the section name from the keys it prefixes.
            items = [(k[len(key):].lstrip('.'), v) for k, v in _flatten(plain[key], key)]
            groups.append((key, items))
    lines = []
    for name, items in groups:
        body = ' '.join(f'{k}={_format_value(v)}' for k, v in items)
        head = f'  {name}: ' if name else '  '
        lines.extend(textwrap.wrap(body, width=_BANNER_WIDTH, initial_indent=head,
                                   subsequent_indent=' ' * len(head),
                                   break_long_words=False, break_on_hyphens=False))
    return lines

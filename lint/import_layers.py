"""Import-layering check for ``make lint``: lower layers never import higher ones.

Each top-level part of the package (``vjepa_jax.<part>``) sits in one layer of
``LAYERS``; a module may import its own layer and the layers below it, never
one above, including imports inside functions. Run from the repository root:
``python lint/import_layers.py`` (exit status 1 and one line per violation).
The table is the one in docs/architecture.md; change both together.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = 'vjepa_jax'

# Lowest first. A part missing from the table is itself a violation, so a new
# package has to be placed on purpose.
LAYERS: tuple[tuple[str, ...], ...] = (
    ('errors',),
    ('config_lib', 'config_overrides', 'config_sections', 'sharding_plan'),
    ('sharding', 'models', 'masks', 'input'),
    ('convert', 'checkpointing', 'metrics'),
    ('train', 'loading', 'pretrained', 'encoder_loading'),
    ('evaluation',),
    ('aot', 'tools', 'recipe_parts'),
    ('main', 'compile_check', '__init__', '__main__'),
)
RANK = {part: rank for rank, parts in enumerate(LAYERS) for part in parts}


def part_of(module: str) -> str | None:
    """``vjepa_jax.input.video`` -> ``input``; None for modules outside the package."""
    names = module.split('.')
    if names[0] != PACKAGE:
        return None
    return names[1] if len(names) > 1 else '__init__'


def imported_modules(tree: ast.AST, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in ``tree``, relative ones resolved."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                parent = module.split('.')[:len(module.split('.')) - node.level + is_package]
                base = '.'.join(parent + ([base] if base else []))
            # ``from vjepa_jax import sharding`` imports the part ``sharding``.
            if base == PACKAGE:
                out += [(node.lineno, f'{PACKAGE}.{alias.name}') for alias in node.names]
            else:
                out.append((node.lineno, base))
    return out


def violations(root: Path) -> list[str]:
    problems = []
    for path in sorted((root / PACKAGE).rglob('*.py')):
        rel = path.relative_to(root).with_suffix('')
        is_package = rel.name == '__init__'
        module = '.'.join(rel.parts[:-1] if is_package else rel.parts)
        own = part_of(module)
        if own not in RANK:
            problems.append(f'{path.relative_to(root)}: part {own!r} has no layer in '
                            'lint/import_layers.py LAYERS (place it there and in '
                            'docs/architecture.md)')
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for line, target in imported_modules(tree, module, is_package):
            other = part_of(target)
            if other is None or other == own:
                continue
            if other not in RANK:
                problems.append(f'{path.relative_to(root)}:{line}: imports {target}, whose '
                                f'part {other!r} has no layer')
            elif RANK[other] > RANK[own]:
                problems.append(f'{path.relative_to(root)}:{line}: {own} (layer {RANK[own]}) '
                                f'imports {target} (layer {RANK[other]}, above it)')
    return problems


def main() -> int:
    problems = violations(Path.cwd())
    for p in problems:
        print(p)
    if problems:
        print(f'{len(problems)} import-layering violation(s); see docs/architecture.md')
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())

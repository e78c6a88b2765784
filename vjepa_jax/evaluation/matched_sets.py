"""Matched clip sets for the violation-of-expectation test: the text format and its loaders.

A matched-sets file lists clips, one per line, as four whitespace-separated
fields (the path is the rest of the line, so it may hold spaces)::

    # comment lines and blank lines are ignored
    SET TYPE LABEL PATH
    scene0001 permanence possible   clips/scene0001_a.mp4
    scene0001 permanence impossible clips/scene0001_c.mp4

``SET`` names a matched set (its lines need not be adjacent), ``TYPE`` the
violation type it tests (every line of a set gives the same one), ``LABEL`` is
``possible`` or ``impossible``, and ``PATH`` a video file or a directory of
frame images (sorted by name), relative to the file's folder unless absolute.
Every set needs at least one clip of each label: a pair (IntPhys-style
quadruplets have two of each). ``intphys_matched_sets`` writes such a file for
the IntPhys dev set, which users download themselves (docs/surprise.md).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from pathlib import Path

from vjepa_jax.errors import DataError

LABELS = ('possible', 'impossible')


class MatchedSetsError(DataError):
    """A matched-sets file that cannot be read; the message names the file and line."""


@dataclasses.dataclass(frozen=True)
class MatchedSet:
    """One matched set: clips of one scene, some possible and some impossible."""

    name: str
    violation: str
    clips: tuple[str, ...]
    impossible: tuple[bool, ...]

    @property
    def num_impossible(self) -> int:
        return sum(self.impossible)


def parse_matched_sets(text: str, *, source: str = '<text>',
                       root: str | os.PathLike | None = None,
                       check_paths: bool = True) -> list[MatchedSet]:
    """Matched sets from the text format (module doc), in order of first appearance.

    ``root``: folder that relative paths are relative to (default: the cwd).
    Raises ``MatchedSetsError`` naming ``source`` and the line of every problem.
    """
    problems, sets, first_line = [], {}, {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith('#'):
            continue
        fields = line.split(None, 3)
        if len(fields) != 4:
            problems.append(f'line {number}: expected "SET TYPE LABEL PATH", got {raw!r}')
            continue
        name, violation, label, path = fields
        if label not in LABELS:
            problems.append(f'line {number}: label {label!r} is neither "possible" nor '
                            '"impossible"')
            continue
        full = Path(path) if root is None or os.path.isabs(path) else Path(root) / path
        if check_paths and not full.exists():
            problems.append(f'line {number}: {full} does not exist')
        entry = sets.setdefault(name, {'violation': violation, 'clips': [], 'impossible': []})
        first_line.setdefault(name, number)
        if entry['violation'] != violation:
            problems.append(f'line {number}: set {name!r} has type {violation!r} here but '
                            f'{entry["violation"]!r} on line {first_line[name]}')
        entry['clips'].append(str(full))
        entry['impossible'].append(label == 'impossible')
    for name, entry in sets.items():
        if all(entry['impossible']) or not any(entry['impossible']):
            missing = 'possible' if all(entry['impossible']) else 'impossible'
            problems.append(f'line {first_line[name]}: set {name!r} has no {missing} clip; '
                            'each set needs both labels')
    if not sets and not problems:
        problems.append('no clips: expected lines "SET TYPE LABEL PATH"')
    if problems:
        raise MatchedSetsError(f'{source}: ' + '; '.join(problems[:10])
                               + (f' (and {len(problems) - 10} more)' if len(problems) > 10
                                  else ''))
    return [MatchedSet(name, e['violation'], tuple(e['clips']), tuple(e['impossible']))
            for name, e in sets.items()]


def read_matched_sets(path: str | os.PathLike, check_paths: bool = True) -> list[MatchedSet]:
    """Reads a matched-sets file; relative clip paths are relative to its folder."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise MatchedSetsError(f'{path}: cannot read the matched-sets file ({e})') from e
    return parse_matched_sets(text, source=str(path), root=path.parent,
                              check_paths=check_paths)


def format_matched_sets(sets: Sequence[MatchedSet]) -> str:
    """The text format of ``sets`` (absolute or as-given paths)."""
    lines = ['# SET TYPE LABEL PATH (vjepa_jax matched sets)']
    for s in sets:
        for clip, bad in zip(s.clips, s.impossible):
            lines.append(f'{s.name} {s.violation} {LABELS[bad]} {clip}')
    return '\n'.join(lines) + '\n'


def intphys_matched_sets(root: str | os.PathLike) -> list[MatchedSet]:
    """Matched sets of an IntPhys dev set, as downloaded from intphys.cognitive-ml.fr.

    Layout: ``root/O1|O2|O3/<scene>/<1..4>/scene/*.png`` with
    ``status.json`` (``header.is_possible``) next to each ``scene`` folder; each
    scene's four movies are one quadruplet (two possible, two impossible). The
    block names become the violation types (O1 object permanence, O2 shape
    constancy, O3 spatio-temporal continuity).
    """
    root = Path(root)
    blocks = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    sets = []
    for block in blocks:
        for scene in sorted(p for p in block.iterdir() if p.is_dir()):
            clips, impossible = [], []
            for movie in sorted(p for p in scene.iterdir() if p.is_dir()):
                status = movie / 'status.json'
                try:
                    header = json.loads(status.read_text())['header']
                    possible = bool(header['is_possible'])
                except (OSError, KeyError, TypeError, json.JSONDecodeError) as e:
                    raise MatchedSetsError(f'{status}: no readable header.is_possible '
                                           f'({e}); is this the IntPhys dev set?') from e
                clips.append(str(movie / 'scene'))
                impossible.append(not possible)
            if clips:
                sets.append(MatchedSet(f'{block.name}/{scene.name}', block.name, tuple(clips),
                                       tuple(impossible)))
    if not sets:
        raise MatchedSetsError(f'{root}: no IntPhys scenes (expected '
                               'O1/<scene>/<1..4>/scene/*.png with status.json)')
    return sets

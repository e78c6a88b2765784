"""Video index files (official ``path label`` format) and dataset mixing.

Format (the official V-JEPA ``.csv`` index): one video per line,
``/path/to/video.mp4 <integer label>``, no header. The official code reads it
with ``pd.read_csv(path, header=None, delimiter=' ')``, so a path holding a
space breaks it; here each line is split on its **last** run of whitespace, so
paths with spaces work. Rules:

- leading and trailing whitespace of a line is ignored (also ``\\r``), blank
  lines are skipped;
- the label must be an integer (optional sign); labels are ignored for
  pretraining but kept for probes;
- a relative path is resolved against the directory holding the index file
  (not the working directory), so an index can move with its videos; absolute
  paths are kept as written, ``~`` is not expanded;
- a line that does not parse raises ``IndexFileError`` naming the file and the
  1-based line number; a file with no videos is an error too.

Mixing several indices (the official recipe lists Kinetics-710, SSv2 and
HowTo100M) is described in ``mix_indices``.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
import re
from collections.abc import Sequence

import numpy as np

from vjepa_jax.errors import DataError

_LABEL = re.compile(r'[+-]?[0-9]+')


class IndexFileError(DataError):
    """An index file (or one of its lines) that cannot be used."""


@dataclasses.dataclass(frozen=True, eq=False)
class VideoIndex:
    """One index file: ``paths[i]`` is a video, ``labels[i]`` its int64 label.

    ``labels`` is a read-only int64 ``[N]`` array; ``source`` names where the
    rows came from (the index file, or anything descriptive for in-memory rows).
    """

    paths: tuple[str, ...]
    labels: np.ndarray
    source: str = '<memory>'

    def __post_init__(self) -> None:
        paths = tuple(self.paths)
        if not all(isinstance(p, str) and p for p in paths):
            raise ValueError(f'{self.source}: every path must be a non-empty string.')
        labels = np.asarray(self.labels)
        if labels.shape != (len(paths),) or not (labels.size == 0 or
                                                 np.issubdtype(labels.dtype, np.integer)):
            raise ValueError(f'{self.source}: labels must be {len(paths)} integers, got '
                             f'dtype {labels.dtype} shape {labels.shape}.')
        labels = labels.astype(np.int64, copy=True)
        labels.setflags(write=False)
        object.__setattr__(self, 'paths', paths)
        object.__setattr__(self, 'labels', labels)

    def __len__(self) -> int:
        return len(self.paths)


def _parse_line(line: str, lineno: int, source: str, base_dir: str) -> tuple[str, int] | None:
    """``(resolved path, label)`` for one line, None for a blank line."""
    text = line.strip()
    if not text:
        return None
    parts = text.rsplit(None, 1)
    if len(parts) != 2 or not _LABEL.fullmatch(parts[1]):
        shown = line.rstrip('\r\n')
        raise IndexFileError(
            f'{source}:{lineno}: expected "<video path> <integer label>" separated by '
            f'whitespace, got {shown!r}.')
    path, label = parts[0].strip(), int(parts[1])
    if not os.path.isabs(path):
        path = os.path.normpath(os.path.join(base_dir, path))
    return path, label


def read_index(path: str | os.PathLike[str]) -> VideoIndex:
    """Read one index file (format in the module docstring) into a ``VideoIndex``."""
    source = os.fspath(path)
    if not os.path.isfile(source):
        raise FileNotFoundError(f'Index file not found: {source!r} (expected a text file of '
                                '"<video path> <integer label>" lines).')
    base_dir = os.path.dirname(os.path.abspath(source))
    paths: list[str] = []
    labels: list[int] = []
    try:
        with open(source, encoding='utf-8') as f:
            for lineno, line in enumerate(f, start=1):
                row = _parse_line(line, lineno, source, base_dir)
                if row is not None:
                    paths.append(row[0])
                    labels.append(row[1])
    except UnicodeDecodeError as e:
        raise IndexFileError(f'{source}: not UTF-8 text ({e}).') from e
    if not paths:
        raise IndexFileError(f'{source}: no videos listed (the file is empty or blank).')
    return VideoIndex(tuple(paths), np.asarray(labels, dtype=np.int64), source)


def _as_nonneg_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f'{name} must be a non-negative int, got {value!r}.')
    return int(value)


@dataclasses.dataclass(frozen=True, eq=False)
class MixedIndex:
    """Several ``VideoIndex`` sources behind one global row id space.

    Global row ids number the rows of all sources concatenated in the given
    order: source ``s`` holds ids ``offsets[s] .. offsets[s + 1] - 1``. One
    epoch is ``len(self)`` ids from ``epoch_order`` (see ``mix_indices``).
    Build it with ``mix_indices``.
    """

    sources: tuple[VideoIndex, ...]
    weights: tuple[float, ...] | None
    num_samples: int
    replacement: bool
    seed: int
    offsets: np.ndarray = dataclasses.field(init=False, repr=False)

    def __post_init__(self) -> None:
        sizes = np.asarray([len(s) for s in self.sources], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        offsets.setflags(write=False)
        object.__setattr__(self, 'offsets', offsets)

    def __len__(self) -> int:
        return self.num_samples

    @property
    def num_rows(self) -> int:
        """Rows of all sources together (the size of the global id space)."""
        return int(self.offsets[-1])

    def row_probabilities(self) -> np.ndarray:
        """float64 ``[num_rows]``: each row's draw probability in a weighted epoch.

        Official rule: a row of source ``s`` has weight ``weights[s] / len(s)``,
        normalised over all rows, so source ``s`` as a whole is drawn with
        probability ``weights[s] / sum(weights)`` whatever its size. Unweighted:
        uniform.
        """
        sizes = np.diff(self.offsets)
        if self.weights is None:
            per_source = sizes / self.num_rows
        else:
            w = np.asarray(self.weights, dtype=np.float64)
            per_source = w / w.sum()
        return np.repeat(per_source / sizes, sizes)

    def locate(self, ids: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
        """Global ids (any shape) -> ``(source ids, rows within the source)``, int64."""
        ids = np.asarray(ids, dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= self.num_rows):
            raise IndexError(f'row ids must lie in [0, {self.num_rows}), got '
                             f'[{ids.min()}, {ids.max()}].')
        source = np.searchsorted(self.offsets, ids, side='right') - 1
        return source, ids - self.offsets[source]

    def path(self, row_id: int) -> str:
        """Video path of one global row id."""
        s, r = self.locate(row_id)
        return self.sources[int(s)].paths[int(r)]

    def label(self, row_id: int) -> int:
        """Label of one global row id."""
        s, r = self.locate(row_id)
        return int(self.sources[int(s)].labels[int(r)])

    def epoch_order(self, epoch: int, seed: int | None = None) -> np.ndarray:
        """int64 ``[len(self)]`` global row ids for ``epoch`` (deterministic).

        Unweighted: ``arange(num_rows)``, the plain concatenation (shuffling is
        the pipeline's job). Weighted: ``num_samples`` draws with the per-row
        probabilities of ``row_probabilities``, from a generator seeded by
        ``(seed, epoch)`` (``seed`` defaults to the one given to
        ``mix_indices``); with replacement they are i.i.d. draws, without
        replacement a weighted random permutation (prefix).
        """
        epoch = _as_nonneg_int('epoch', epoch)
        seed = self.seed if seed is None else _as_nonneg_int('seed', seed)
        if self.weights is None:
            return np.arange(self.num_rows, dtype=np.int64)
        rng = np.random.default_rng([seed, epoch])
        sizes = np.diff(self.offsets)
        if self.replacement:
            # Two stages (source by its weight, then a uniform row) give exactly
            # the per-row probabilities weights[s] / len(s) without a
            # [num_rows] cumulative table.
            w = np.asarray(self.weights, dtype=np.float64)
            src = rng.choice(len(sizes), size=self.num_samples, p=w / w.sum())
            return self.offsets[src] + rng.integers(0, sizes[src])
        # Weighted sampling without replacement (what np.random.choice(...,
        # replace=False, p=...) draws): sort Exp(1) / p keys (Efraimidis-Spirakis).
        keys = rng.exponential(size=self.num_rows) / self.row_probabilities()
        return np.argsort(keys, kind='stable')[:self.num_samples].astype(np.int64)


def mix_indices(indices: Sequence[VideoIndex | str | os.PathLike[str]],
                weights: Sequence[float] | None = None,
                num_samples: int | None = None,
                seed: int = 0,
                replacement: bool = True) -> MixedIndex:
    """Combine index files (or ``VideoIndex`` objects) into one ``MixedIndex``.

    Without ``weights``: plain concatenation, every row once per epoch.

    With ``weights`` (one positive number per source, the official
    ``datasets_weights``): official per-row weights ``weights[s] / len(s)``
    (``VideoDataset.sample_weights``), so each *source* gets the share
    ``weights[s] / sum(weights)`` of an epoch whatever its size. An epoch is
    ``num_samples`` draws (default: all rows, as the official sampler), drawn
    with replacement by default, as torch's ``WeightedRandomSampler`` does by
    default, so that small sources repeat and large ones are subsampled.

    Note on the official sampler: ``DistributedWeightedSampler`` passes
    ``replacement=False`` with ``num_samples = all rows``, which draws every row
    exactly once (a weighted permutation, whose order ``DistributedSampler``
    then reshuffles), so there the weights do not change what an epoch
    contains. ``replacement=False`` reproduces that; the official recipe
    configs set no ``datasets_weights`` at all.
    """
    if isinstance(indices, (str, os.PathLike, VideoIndex)) or not isinstance(indices, Sequence):
        raise TypeError('indices must be a sequence of index files or VideoIndex objects.')
    if not indices:
        raise ValueError('indices is empty: give at least one index file.')
    sources = tuple(i if isinstance(i, VideoIndex) else read_index(i) for i in indices)
    for s in sources:
        if len(s) == 0:
            raise IndexFileError(f'{s.source}: no videos listed.')
    seed = _as_nonneg_int('seed', seed)
    num_rows = sum(len(s) for s in sources)
    if weights is None:
        if num_samples is not None and num_samples != num_rows:
            raise ValueError(f'num_samples={num_samples!r} needs weights: without weights an '
                             f'epoch is the plain concatenation of all {num_rows} rows.')
        return MixedIndex(sources, None, num_rows, bool(replacement), seed)
    w = tuple(float(x) for x in weights)
    if len(w) != len(sources):
        raise ValueError(f'got {len(w)} weights for {len(sources)} index files; give one '
                         'weight per index file.')
    if not all(math.isfinite(x) and x > 0 for x in w):
        raise ValueError(f'weights must be finite and > 0, got {w}.')
    num_samples = num_rows if num_samples is None else num_samples
    if isinstance(num_samples, bool) or not isinstance(num_samples, numbers.Integral) \
            or num_samples < 1:
        raise ValueError(f'num_samples must be a positive int, got {num_samples!r}.')
    if not replacement and num_samples > num_rows:
        raise ValueError(f'num_samples={num_samples} > {num_rows} rows needs replacement=True.')
    return MixedIndex(sources, w, int(num_samples), bool(replacement), seed)

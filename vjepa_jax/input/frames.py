"""Decoded PyAV frames -> upright uint8 RGB arrays.

Conversion reuses one swscale context per thread: ``frame.to_ndarray(format='rgb24')``
builds a fresh one for every frame (1.1 ms per 320x240 frame in PyAV 18, against
0.04 ms reused). Orientation: the display matrix attached to decoded frames (phones
store portrait videos as landscape frames plus a rotation) is applied as a transpose
and flips, so frames come out as ``ffmpeg`` (autorotate) shows them. PyAV >= 14 with
FFmpeg >= 7 exposes the full matrix per frame (PyAV 19 as a mapping); PyAV 12-13 only the stream's rotation
angle, used when present. Rotations that are not multiples of 90 degrees are rounded
to the nearest one.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence

import av
import numpy as np

_local = threading.local()


def _reformatter():
    """One swscale context per thread, reused across frames and calls (see module doc)."""
    reformatter = getattr(_local, 'reformatter', None)
    if reformatter is None:
        reformatter = _local.reformatter = av.video.reformatter.VideoReformatter()
    return reformatter


_REFORMAT_HAS_THREADS = True


def to_rgb(frame, width: int, height: int) -> np.ndarray:
    """Any pixel format -> uint8 ``[height, width, 3]`` RGB (resized only if the stream
    changed resolution mid-way, to keep one shape per video)."""
    global _REFORMAT_HAS_THREADS
    reformatter = _reformatter()
    if _REFORMAT_HAS_THREADS:
        try:
            # threads=1: swscale's own threads only cost time at these sizes.
            rgb = reformatter.reformat(frame, width=width, height=height, format='rgb24',
                                       threads=1)
        except TypeError:  # PyAV < 14 has no `threads` argument
            _REFORMAT_HAS_THREADS = False
    if not _REFORMAT_HAS_THREADS:
        rgb = reformatter.reformat(frame, width=width, height=height, format='rgb24')
    return rgb.to_ndarray()


@dataclasses.dataclass(frozen=True)
class Orientation:
    """How to turn a decoded frame into the displayed one: transpose, then flips."""

    transpose: bool = False
    flip_rows: bool = False
    flip_cols: bool = False

    def apply(self, image: np.ndarray) -> np.ndarray:
        """``[H, W, C]`` -> displayed ``[H', W', C]`` (a view)."""
        if self.transpose:
            image = image.transpose(1, 0, 2)
        if self.flip_rows:
            image = image[::-1]
        if self.flip_cols:
            image = image[:, ::-1]
        return image


def orientation_from_matrix(matrix: Sequence[int]) -> Orientation:
    """FFmpeg display matrix (9 int32, 16.16 fixed point) -> nearest 90-degree transform.

    The matrix maps a source pixel ``(x, y)`` (y pointing down) to the display position
    ``x' = a x + c y``, ``y' = b x + d y`` with ``a, b, c, d = m[0], m[1], m[3], m[4]``;
    e.g. ``frame.rotation == 90`` (counter-clockwise) is ``a = d = 0, b = -1, c = 1``.
    """
    a, b, c, d = (float(matrix[k]) for k in (0, 1, 3, 4))
    if abs(a) + abs(d) >= abs(b) + abs(c):
        return Orientation(transpose=False, flip_rows=d < 0, flip_cols=a < 0)
    # Swapped axes: after the transpose, rows follow x and columns follow y.
    return Orientation(transpose=True, flip_rows=b < 0, flip_cols=c < 0)


def orientation_from_angle(degrees: float) -> Orientation:
    """A counter-clockwise rotation angle -> transform (no flips)."""
    quarter_turns = round(degrees / 90.0) % 4
    # Counter-clockwise by k quarter turns == np.rot90(image, k).
    return (Orientation(),
            Orientation(transpose=True, flip_rows=True),
            Orientation(flip_rows=True, flip_cols=True),
            Orientation(transpose=True, flip_cols=True))[quarter_turns]


def frame_orientation(frame, stream) -> Orientation:
    """The display transform of a decoded frame (identity when there is none)."""
    try:
        container = frame.side_data
        for entry in container:
            # PyAV < 19 iterates side-data objects; PyAV 19 iterates their types (a mapping).
            side_data = entry if hasattr(entry, 'type') else container[entry]
            kind = getattr(side_data, 'type', entry)
            if getattr(kind, 'name', None) == 'DISPLAYMATRIX':
                matrix = np.frombuffer(bytes(side_data), dtype=np.int32)
                if matrix.size >= 9:
                    return orientation_from_matrix(matrix)
    except (AttributeError, TypeError, ValueError):
        pass
    # PyAV 12-13: the stream-level rotation angle only.
    stream_side_data = getattr(stream, 'side_data', None)
    if isinstance(stream_side_data, dict) and stream_side_data.get('DISPLAYMATRIX'):
        try:
            return orientation_from_angle(float(stream_side_data['DISPLAYMATRIX']))
        except (TypeError, ValueError):
            pass
    return Orientation()

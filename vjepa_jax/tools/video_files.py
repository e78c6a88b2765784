"""Which videos a tool reads (a folder, an index file, one file) and the one clip it takes of each."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vjepa_jax.errors import DataError
from vjepa_jax.input.index import read_index
from vjepa_jax.input.transforms import eval_transform
from vjepa_jax.input.video import decode_clips

# Files a folder scan picks up (lower-case suffixes); anything else in the folder is ignored.
VIDEO_EXTENSIONS = ('.mp4', '.m4v', '.mov', '.mkv', '.webm', '.avi', '.mpg', '.mpeg', '.ts',
                    '.flv', '.wmv', '.ogv', '.3gp')


class VideoListError(DataError, FileNotFoundError):
    """No videos where the user pointed (a missing path, a folder without videos)."""


def list_videos(videos: str | os.PathLike) -> tuple[list[str], np.ndarray]:
    """``(paths, labels int64 [N])`` of a folder, an index file or one video file.

    A folder gives every file below it with a video suffix (``VIDEO_EXTENSIONS``),
    sorted by relative path, hidden files and folders skipped, labels -1.
    Any other file is read as an official index file, unless its suffix
    says it is a video.
    """
    root = Path(videos)
    if not root.exists():
        raise VideoListError(f'No videos at {root}: give a folder of videos, an index '
                             'file ("path label" lines) or a video file.')
    if root.is_dir():
        paths = sorted(
            str(p) for p in root.rglob('*')
            if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file()
            and not any(part.startswith('.') for part in p.relative_to(root).parts))
        if not paths:
            raise VideoListError(f'No video files in {root} (looked for '
                                 f'{", ".join(VIDEO_EXTENSIONS)} below it).')
        return paths, np.full(len(paths), -1, np.int64)
    if root.suffix.lower() in VIDEO_EXTENSIONS:
        return [str(root)], np.full(1, -1, np.int64)
    index = read_index(root)
    return list(index.paths), np.asarray(index.labels, np.int64)


def load_clip(path: str, frames: int, frame_step: int, crop: int) -> np.ndarray:
    """One deterministic evaluation clip: uint8 ``[frames, crop, crop, 3]``.

    Raises:
      VideoError: the file cannot give the clip.
    """
    clips, _ = decode_clips(path, frames, frame_step, 1, None)
    return eval_transform(clips[0], crop, 1)[0]

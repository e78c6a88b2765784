"""Whole clips for the surprise test: every ``frame_step``-th frame of a video file or frame folder.

The official intuitive-physics evaluation reads whole videos (IntPhys: frame
folders of PNGs) and resizes them to the model's crop with a random resized
crop of scale 1 and aspect 1, i.e. the largest centred square, resized; the
same here, deterministically.
"""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np
from PIL import Image

from vjepa_jax.errors import DataError

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp')


def _square(image: np.ndarray, size: int) -> np.ndarray:
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    image = image[top:top + side, left:left + side]
    if side == size:
        return image
    return np.asarray(Image.fromarray(image).resize((size, size), Image.BILINEAR))


def _video_frames(path: Path) -> list[np.ndarray]:
    try:
        with av.open(os.fspath(path)) as container:
            return [f.to_ndarray(format='rgb24') for f in container.decode(video=0)]
    except (av.FFmpegError, IndexError) as e:
        raise DataError(f'{path}: cannot decode the video ({e}).') from e


def _folder_frames(path: Path) -> list[np.ndarray]:
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f'{path}: a folder without frame images ({", ".join(IMAGE_SUFFIXES)}).')
    return [np.asarray(Image.open(p).convert('RGB')) for p in files]


def read_clip(path: str | os.PathLike, frame_step: int, size: int) -> np.ndarray:
    """uint8 ``[T, size, size, 3]``: frames 0, ``frame_step``, ... of a video or frame folder."""
    path = Path(path)
    if not path.exists():
        raise DataError(f'{path}: no such clip.')
    frames = _folder_frames(path) if path.is_dir() else _video_frames(path)
    if not frames:
        raise DataError(f'{path}: no frames.')
    return np.stack([_square(f, size) for f in frames[::frame_step]])

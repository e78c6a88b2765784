"""What can go wrong reading a video file: :class:`VideoError` and its ``reason`` categories.

Every layer of the video reader (opening and scanning the container, decoding frames,
cutting clips) raises :class:`VideoError`, never a bare PyAV exception, so a data loader
can skip the sample and log ``error.reason``.
"""

from __future__ import annotations

import os

import av

from vjepa_jax.errors import DataError

# Machine-friendly categories carried by VideoError.reason.
REASONS = (
    'missing',          # no such path
    'not_a_file',       # a directory or other non-regular file
    'unreadable',       # exists but cannot be opened (permissions, I/O error)
    'empty',            # zero bytes
    'not_a_video',      # FFmpeg does not recognise the content, or it is a still image
    'corrupt',          # a video container that is truncated or damaged
    'no_video_stream',  # e.g. an audio-only file
    'no_frames',        # a video stream without a single frame
    'too_short',        # fewer frames than min_frames / than the clips need
)

# Exceptions PyAV raises for bad input. av.error.FFmpegError covers FFmpeg's error codes
# (InvalidDataError is also a ValueError, FileNotFoundError also an OSError, ...); the
# others come from PyAV's Python layer (e.g. a stream it cannot describe).
AV_ERRORS = (av.error.FFmpegError, OSError, EOFError, ValueError, RuntimeError)


class VideoError(DataError):
    """A video file that cannot give the requested clips.

    Attributes:
      path: the file, as given.
      reason: a short category from ``REASONS`` ('missing', 'corrupt', ...).
      detail: a human-readable explanation (FFmpeg's message where there is one).
    """

    def __init__(self, path: str | os.PathLike, reason: str, detail: str):
        self.path = os.fspath(path)
        self.reason = reason
        self.detail = detail
        super().__init__(f'cannot read video {self.path!r} [{reason}]: {detail}')

    def __reduce__(self):
        # Rebuild from the fields, not from the formatted message, so the error survives
        # pickling between data-loader worker processes.
        return (type(self), (self.path, self.reason, self.detail))

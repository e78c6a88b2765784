"""Opening a video file and scanning its packets (no decoding).

:func:`open_video` turns every way a path can fail to be a video (missing, empty, a
directory, not a video, a damaged container) into a :class:`VideoError` with its
``reason``; :func:`video_stream` picks the real video stream (not cover art);
:func:`scan_packets` reads the stream's packets once.

Frame counting: the file's video packets are read once without decoding (a demux pass:
~0.8 ms for 300 packets of a 320x240 H.264 file, about 3 frames' worth of decoding).
That gives the exact frame count and every frame's pts and keyframe flag at once, which
is what seeking and the pts -> index map need; ``stream.frames`` only serves to detect a
truncated MP4 (fewer packets than its index promises). The official loader (decord)
likewise reads the packet index when it opens a file.
"""

from __future__ import annotations

import dataclasses
import os

import av
import numpy as np

from vjepa_jax.input.video_errors import AV_ERRORS, VideoError

# First bytes of common video containers: a file that FFmpeg cannot open but that starts
# like one of these is a damaged video ('corrupt'), anything else is 'not_a_video'.
_MP4_BOX_TYPES = (b'ftyp', b'moov', b'mdat', b'free', b'skip', b'wide', b'pnot', b'uuid')
_MAGIC_PREFIXES = (
    b'\x1aE\xdf\xa3',        # Matroska / WebM
    b'RIFF',                 # AVI
    b'\x00\x00\x01\xba',     # MPEG program stream
    b'FLV',                  # Flash video
    b'OggS',                 # Ogg
    b'0&\xb2u\x8e\x66\xcf',  # ASF / WMV
)


def _looks_like_video_container(path: str) -> bool:
    """Whether the file's first bytes are those of a common video container."""
    try:
        with open(path, 'rb') as f:
            head = f.read(512)
    except OSError:
        return False
    if head[4:8] in _MP4_BOX_TYPES:
        return True
    if len(head) > 188 and head[0] == head[188] == 0x47:  # MPEG-TS: a sync byte per 188
        return True
    return any(head.startswith(magic) for magic in _MAGIC_PREFIXES)


def _open_options() -> dict[str, str]:
    # PyAV < 19 decodes container metadata strictly unless told to ignore bad
    # bytes; PyAV 19 dropped the argument (``av.open`` raises TypeError on it).
    try:
        major = int(av.__version__.split('.')[0])
    except ValueError:
        return {}
    return {'metadata_errors': 'ignore'} if major < 19 else {}


_OPEN_OPTIONS = _open_options()


def open_video(path: str) -> av.container.InputContainer:
    """Open ``path`` for reading or raise the matching VideoError."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise VideoError(path, 'missing', 'no such file') from None
    except OSError as e:
        raise VideoError(path, 'unreadable', str(e)) from None
    if os.path.isdir(path) or not os.path.isfile(path):
        raise VideoError(path, 'not_a_file', 'the path is not a regular file')
    if st.st_size == 0:
        raise VideoError(path, 'empty', 'the file has zero bytes')
    try:
        # PyAV 19 rejects str subclasses such as ``numpy.str_`` (paths read from arrays).
        name = os.fspath(path)
        return av.open(str(name) if isinstance(name, str) else name, **_OPEN_OPTIONS)
    except PermissionError as e:
        raise VideoError(path, 'unreadable', str(e)) from None
    except AV_ERRORS as e:
        if _looks_like_video_container(path):
            raise VideoError(
                path, 'corrupt',
                f'the file starts like a video container but FFmpeg cannot parse it '
                f'(truncated or damaged?): {e}') from None
        raise VideoError(
            path, 'not_a_video', f'FFmpeg does not recognise the content as video: {e}'
        ) from None


def video_stream(container: av.container.InputContainer, path: str):
    """The first real video stream (cover art in audio files does not count)."""
    if container.format.name.endswith('_pipe') or container.format.name == 'image2':
        raise VideoError(path, 'not_a_video',
                         f'the file is a still image ({container.format.name})')
    for stream in container.streams.video:
        disposition = getattr(stream, 'disposition', None)
        attached = getattr(getattr(av.stream, 'Disposition', None), 'attached_pic', None)
        if attached is not None and disposition is not None and disposition & attached:
            continue
        return stream
    kinds = sorted({s.type for s in container.streams}) or ['none']
    raise VideoError(path, 'no_video_stream',
                     f'the file has no video stream (streams: {", ".join(kinds)})')


@dataclasses.dataclass(frozen=True)
class PacketScan:
    """What one demux pass learns about a video stream.

    Attributes:
      num_frames: frames the decoder will output (video packets, discarded ones excluded).
      pts: int64 ``[num_frames]`` sorted presentation timestamps (frame i has ``pts[i]``),
        or None when timestamps are missing or repeated; the frames are then identified
        by their output order and decoding starts at the beginning.
      key_pts: int64 sorted pts of the keyframes (places where decoding can start).
    """

    num_frames: int
    pts: np.ndarray | None
    key_pts: np.ndarray


def scan_packets(container: av.container.InputContainer, stream, path: str) -> PacketScan:
    """Read every video packet once (no decoding): frame count, pts, keyframes."""
    pts, keys = [], []
    timestamps_ok = True
    packets = frames = 0
    try:
        for packet in container.demux(stream):
            if packet.size == 0:  # the flush packet PyAV yields at the end
                continue
            packets += 1
            # Packets before an MP4 edit list's start are decoded for reference only;
            # the decoder drops their frames, so they are not frames of the video.
            if getattr(packet, 'is_discard', False):
                continue
            frames += 1
            if packet.pts is None:
                timestamps_ok = False
            elif timestamps_ok:
                pts.append(packet.pts)
                if packet.is_keyframe:
                    keys.append(packet.pts)
    except AV_ERRORS as e:
        raise VideoError(path, 'corrupt', f'reading packets failed after {packets}: {e}'
                         ) from None
    declared = stream.frames or 0
    if 'mp4' in container.format.name and 0 < packets < declared:
        # The MP4 index promises more samples than the file holds: cut-off download.
        raise VideoError(path, 'corrupt',
                         f'truncated: {packets} of {declared} video packets are present')
    if not timestamps_ok:
        return PacketScan(num_frames=frames, pts=None, key_pts=np.zeros(0, np.int64))
    table = np.sort(np.asarray(pts, dtype=np.int64))
    if table.size and np.any(table[1:] == table[:-1]):
        return PacketScan(num_frames=table.size, pts=None, key_pts=np.zeros(0, np.int64))
    return PacketScan(num_frames=table.size, pts=table, key_pts=np.sort(np.asarray(keys, np.int64)))

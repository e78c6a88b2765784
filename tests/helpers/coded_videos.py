"""Test videos whose frames carry their index as 8 black/white stripes (the input tests)."""

from __future__ import annotations

import av
import numpy as np

W, H = 64, 48


def coded_frame(i: int) -> np.ndarray:
    img = np.zeros((H, W, 3), np.uint8)
    for b in range(8):
        if (i >> b) & 1:
            img[:, 8 * b:8 * b + 8, 0] = 255
    img[:, :, 1] = (37 * i) % 200  # varying content so P/B frames carry real changes
    img[:, :, 2] = np.arange(W, dtype=np.uint8)[None, :] * 3
    return img


def read_index(img: np.ndarray) -> int:
    red = img[..., 0].astype(np.float32)
    return sum(1 << b for b in range(8) if red[:, 8 * b + 2:8 * b + 6].mean() > 127)


def write_video(path, frames, *, codec='libx264', pix_fmt='yuv420p', options=None,
                rate=10, pts=None, time_base=None, fmt=None, rotation=None):
    with av.open(str(path), 'w', format=fmt) as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = pix_fmt
        stream.codec_context.thread_count = 1
        if options:
            stream.options = options
        if time_base is not None:
            stream.codec_context.time_base = time_base
        if rotation is not None:
            stream.set_display_rotation(rotation[0], hflip=rotation[1])
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format='rgb24')
            if pts is not None:
                frame.pts, frame.time_base = int(pts[i]), time_base
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return str(path)


def reference_frames(path) -> list[np.ndarray]:
    """Every frame, decoded from the start in output order (the ground truth)."""
    with av.open(str(path)) as container:
        return [f.to_ndarray(format='rgb24') for f in container.decode(video=0)]


def good_video(tmp_path, name='good.mp4', n=30, **kwargs):
    """A sound H.264 MP4 of ``n`` coded frames."""
    return write_video(tmp_path / name, [coded_frame(i) for i in range(n)], **kwargs)

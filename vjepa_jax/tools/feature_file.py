"""Where extracted features go: memory (the Python API) or a streamed ``.npz`` file."""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

# Tokens are LayerNorm outputs, well inside float16's range; float16 halves the file.
TOKEN_DTYPE = np.float16


class MemorySink:
    """Keeps token batches in memory (the Python API without ``out``)."""

    def __init__(self, keep_tokens: bool):
        self.keep_tokens = keep_tokens
        self.parts: list[np.ndarray] = []

    def add(self, tokens: np.ndarray) -> None:
        if self.keep_tokens:
            self.parts.append(tokens)

    def finish(self, arrays: dict[str, Any], token_shape: tuple[int, int]) -> dict[str, Any]:
        if self.keep_tokens:
            empty = np.zeros((0, *token_shape), TOKEN_DTYPE)
            arrays = {'tokens': np.concatenate(self.parts) if self.parts else empty, **arrays}
        return arrays

    def close(self) -> None:
        self.parts = []


class NpzWriter:
    """Streams token batches to a raw temporary file; ``finish`` assembles the ``.npz``.

    An ``.npz`` is a zip of ``.npy`` files; the tokens' header needs the final
    row count, which is known only at the end, so their bytes wait in a raw
    file next to the output and are copied into the zip in chunks.
    """

    def __init__(self, out: str | os.PathLike, keep_tokens: bool):
        self.out = Path(out).absolute()
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.keep_tokens = keep_tokens
        self.rows = 0
        self._raw = None
        if keep_tokens:
            # Closed in close(); it lives across many add() calls.
            self._raw = tempfile.NamedTemporaryFile(  # noqa: SIM115
                dir=self.out.parent, prefix=f'.{self.out.name}.tokens-', delete=False)

    def add(self, tokens: np.ndarray) -> None:
        if self._raw is not None:
            self._raw.write(np.ascontiguousarray(tokens, TOKEN_DTYPE).tobytes())
            self.rows += tokens.shape[0]

    def finish(self, arrays: dict[str, Any], token_shape: tuple[int, int]) -> dict[str, Any]:
        fd, tmp = tempfile.mkstemp(dir=self.out.parent, prefix=f'.{self.out.name}.',
                                   suffix='.tmp')
        os.close(fd)
        try:
            with zipfile.ZipFile(tmp, 'w', compression=zipfile.ZIP_STORED,
                                 allowZip64=True) as zf:
                if self._raw is not None:
                    self._raw.flush()
                    header = {'descr': np.lib.format.dtype_to_descr(np.dtype(TOKEN_DTYPE)),
                              'fortran_order': False, 'shape': (self.rows, *token_shape)}
                    with zf.open('tokens.npy', 'w', force_zip64=True) as f, \
                            open(self._raw.name, 'rb') as raw:
                        np.lib.format.write_array_header_1_0(f, header)
                        shutil.copyfileobj(raw, f, length=1 << 24)
                for name, value in arrays.items():
                    with zf.open(f'{name}.npy', 'w', force_zip64=True) as f:
                        np.lib.format.write_array(f, np.asanyarray(value), allow_pickle=False)
            os.replace(tmp, self.out)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return arrays

    def close(self) -> None:
        if self._raw is not None:
            self._raw.close()
            Path(self._raw.name).unlink(missing_ok=True)
            self._raw = None

"""Tests for the torch-free reader/writer of torch.save zip checkpoints."""

from __future__ import annotations

import builtins
import os
import pickle
import struct
import zipfile
from collections import OrderedDict
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

from vjepa_jax.convert.torch_pickle import (
    CheckpointFormatError,
    UnsafeCheckpointError,
    load_torch_checkpoint,
    save_torch_checkpoint,
)

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "official_vjepa_small"
ALL_DTYPES = [
    np.float32, np.float64, np.float16, ml_dtypes.bfloat16,
    np.int64, np.int32, np.int16, np.int8, np.uint8, np.bool_,
]


def _assert_same(actual, expected):
    """Structural equality: same container types, keys, dtypes, shapes and values."""
    assert type(actual) is type(expected), (type(actual), type(expected))
    if isinstance(expected, dict):
        assert list(actual) == list(expected)
        for key in expected:
            _assert_same(actual[key], expected[key])
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected)
        for a, e in zip(actual, expected):
            _assert_same(a, e)
    elif isinstance(expected, np.ndarray):
        assert actual.dtype == expected.dtype and actual.shape == expected.shape
        assert actual.flags.c_contiguous
        as_bytes = [np.ascontiguousarray(x).reshape(-1).view(np.uint8) for x in (actual, expected)]
        np.testing.assert_array_equal(*as_bytes)
    else:
        assert actual == expected


def _sample(dtype, shape=(2, 3)) -> np.ndarray:
    return (np.arange(int(np.prod(shape))).reshape(shape) % 7 - 2).astype(dtype)


def _write_zip(path: Path, pickled: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", pickled)
        zf.writestr("archive/byteorder", b"little")
        zf.writestr("archive/version", b"3\n")
    return path


def test_reads_official_checkpoint():
    ckpt_path, npz_path = FIXTURES / "jepa-latest.pth.tar", FIXTURES / "fixture.npz"
    if not (ckpt_path.is_file() and npz_path.is_file()):
        pytest.skip(f"official V-JEPA fixture not available at {FIXTURES}")
    ckpt = load_torch_checkpoint(ckpt_path)
    assert set(ckpt) == {"encoder", "predictor", "opt", "scaler", "target_encoder",
                         "epoch", "loss", "batch_size", "world_size", "lr"}
    assert isinstance(ckpt["encoder"], OrderedDict) and isinstance(ckpt["epoch"], int)
    fixture = np.load(npz_path)
    for name in ["encoder/module.backbone.pos_embed",
                 "encoder/module.backbone.patch_embed.proj.weight",
                 "predictor/module.backbone.predictor_blocks.0.attn.qkv.weight",
                 "target_encoder/module.backbone.norm.bias"]:
        group, key = name.split("/", 1)
        got = ckpt[group][key]
        assert got.dtype == fixture[name].dtype and got.shape == fixture[name].shape
        np.testing.assert_array_equal(got, fixture[name])


def test_round_trip_all_dtypes(tmp_path):
    wide = _sample(np.float32, (4, 6))
    obj = {
        "tensors": {np.dtype(d).name: _sample(d) for d in ALL_DTYPES},
        "scalars": [np.array(3.5, np.float32), np.array(7, np.int64), np.array(True)],
        "views": (wide.T, wide[1:3, ::2], wide[:, 2]),  # non-contiguous inputs
        "empty": [np.zeros((0,), np.float32), np.zeros((3, 0, 2), ml_dtypes.bfloat16)],
        "big_endian": [np.arange(5, dtype=">i4")],
        "meta": {"epoch": 3, "lr": 1e-3, "name": "vjepa", "flag": False, "none": None,
                 "nested": [1, (2.5, "x"), {}]},
    }
    path = tmp_path / "model.pth.tar"
    save_torch_checkpoint(obj, path)
    loaded = load_torch_checkpoint(path)
    expected = dict(obj)
    expected["tensors"] = OrderedDict(obj["tensors"])  # dicts holding arrays become OrderedDicts
    expected["big_endian"] = [np.arange(5, dtype=np.int32)]
    _assert_same(loaded, expected)
    assert [p.name for p in tmp_path.iterdir()] == ["model.pth.tar"]  # no temp file left behind


def test_writer_layout_matches_torch(tmp_path):
    path = tmp_path / "weights.pth"
    save_torch_checkpoint({"a": np.ones(3, np.float32), "b": np.ones(5, np.int8)}, path)
    raw = path.read_bytes()
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        assert names[0] == "weights/data.pkl" and "weights/version" in names
        assert zf.read("weights/byteorder") == b"little"
        for info in zf.infolist():
            assert info.compress_type == zipfile.ZIP_STORED
            if "/data/" in info.filename:
                name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26:info.header_offset + 30])
                assert (info.header_offset + 30 + name_len + extra_len) % 64 == 0


def test_unsupported_values_are_rejected_without_writing(tmp_path):
    path = tmp_path / "bad.pth"
    with pytest.raises(TypeError, match="set"):
        save_torch_checkpoint({"x": {1, 2}}, path)
    with pytest.raises(TypeError, match="complex"):
        save_torch_checkpoint({"x": np.zeros(2, np.complex64)}, path)
    assert list(tmp_path.iterdir()) == []


def test_torch_loads_our_output(tmp_path):
    torch = pytest.importorskip("torch", reason="torch is an optional extra; needed only for cross-checks")
    obj = {
        "state": {"w": _sample(np.float32), "ids": np.arange(4, dtype=np.int64),
                  "bf": _sample(ml_dtypes.bfloat16), "mask": np.array([True, False]),
                  "step": np.array(5, np.int64)},
        "epoch": 2, "hist": [0.5, (1, "a")], "none": None,
    }
    path = tmp_path / "ours.pth.tar"
    save_torch_checkpoint(obj, path)
    got = torch.load(path, weights_only=True)
    assert type(got) is dict and type(got["state"]) is OrderedDict
    assert got["epoch"] == 2 and got["hist"] == [0.5, (1, "a")] and got["none"] is None
    assert got["state"]["bf"].dtype == torch.bfloat16 and got["state"]["ids"].dtype == torch.int64
    assert got["state"]["step"].shape == () and got["state"]["mask"].dtype == torch.bool
    for key, arr in obj["state"].items():
        tensor = got["state"][key]
        assert tuple(tensor.shape) == arr.shape
        if arr.dtype == ml_dtypes.bfloat16:
            back = tensor.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
        else:
            back = tensor.numpy()
        np.testing.assert_array_equal(back, arr)


def test_we_load_torch_output(tmp_path):
    torch = pytest.importorskip("torch", reason="torch is an optional extra; needed only for cross-checks")
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    bf = (torch.arange(6, dtype=torch.float32) / 3).to(torch.bfloat16)
    state = {
        "base": base, "transposed": base.t(), "offset_slice": base[1:3, 2::2],
        "column": base[:, 4], "bf16": bf, "int64": torch.tensor([-(2**40), 7]),
        "param": torch.nn.Parameter(torch.ones(2, 2)), "scalar": torch.tensor(1.5, dtype=torch.float64),
        "nested": {"epoch": 4, "items": [1, 2.0, "three", None, True]},
    }
    path = tmp_path / "theirs.pt"
    torch.save(state, path)
    got = load_torch_checkpoint(path)
    assert list(got) == list(state) and got["nested"] == state["nested"]
    for key in ["base", "transposed", "offset_slice", "column", "int64", "param", "scalar"]:
        assert got[key].flags.c_contiguous
        np.testing.assert_array_equal(got[key], state[key].detach().numpy())
    assert got["bf16"].dtype == ml_dtypes.bfloat16
    np.testing.assert_array_equal(got["bf16"].view(np.int16), bf.view(torch.int16).numpy())


class _Exploit:
    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return self.func, (self.arg,)


@pytest.mark.parametrize("kind", ["os.system", "builtins.eval"])
def test_malicious_pickle_is_not_executed(tmp_path, kind):
    marker = tmp_path / "pwned"
    if kind == "os.system":
        exploit, names = _Exploit(os.system, f"touch {marker}"), ("os.system", "posix.system")
    else:
        exploit, names = _Exploit(builtins.eval, f"open({str(marker)!r}, 'w').close()"), ("builtins.eval",)
    payload = pickle.dumps({"weights": [1, 2], "x": exploit}, protocol=2)
    path = _write_zip(tmp_path / "evil.pth", payload)
    with pytest.raises(UnsafeCheckpointError) as info:
        load_torch_checkpoint(path)
    message = str(info.value)
    assert any(name in message for name in names), message
    assert "NOT executed" in message
    assert not marker.exists()


@pytest.mark.parametrize("module,name", [("subprocess", "Popen"), ("torch.nn", "Module"),
                                         ("numpy", "frombuffer")])
def test_other_globals_are_rejected(tmp_path, module, name):
    payload = b"\x80\x02c" + f"{module}\n{name}\n".encode() + b")R."
    with pytest.raises(UnsafeCheckpointError, match=f"{module}.{name}"):
        load_torch_checkpoint(_write_zip(tmp_path / "evil.pth", payload))


def test_non_zip_file(tmp_path):
    path = tmp_path / "garbage.pth"
    path.write_bytes(b"definitely not a checkpoint")
    with pytest.raises(CheckpointFormatError, match="torch.save"):
        load_torch_checkpoint(path)


def test_legacy_format_file(tmp_path):
    path = tmp_path / "legacy.pth"
    path.write_bytes(pickle.dumps({"w": [1.0, 2.0]}, protocol=2))
    with pytest.raises(CheckpointFormatError, match="legacy"):
        load_torch_checkpoint(path)


def test_missing_file(tmp_path):
    path = tmp_path / "nope.pth"
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        load_torch_checkpoint(path)

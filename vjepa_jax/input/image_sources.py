"""Image datasets of the frozen image probes: the TFDS registry and random-access sources.

Sources (``tfds.data_source``: random access to ArrayRecord files, decoded
with NumPy / Pillow; TensorFlow is not needed to read):

- ``in1k``: ``imagenet2012``, splits train / validation, 1000 classes
  (official probe: ImageNet);
- ``places365``: ``places365_small``, train / validation, 365 classes
  (official probe: Places205, see below);
- ``inat21``: ``i_naturalist2021:2.0.1``, train / val, 10000 classes
  (official probe: iNat21).

Notes on the sources:

- The official V-JEPA image probes use **Places205** (205 classes). TFDS has
  no Places205 builder (4.9.10: only ``places365_small``, Places365-Standard
  at 256x256, and ``placesfull``); ``places365`` is the closest TFDS dataset,
  so its numbers are not comparable with the paper's Places205 column. Any
  TFDS name works with ``tfds_source`` (e.g. a builder of your own for
  Places205).
- ``i_naturalist2021`` is pinned to version ``2.0.1``: the tensorflow-datasets
  4.9.10 wheel lacks the builder's label file
  (``i_naturalist2021_labels_ordered_by_json_id.txt``), so constructing the
  builder from code fails; with an explicit version TFDS reads a prepared
  copy from its files (``dataset_info.json`` / ``features.json``) instead.
  Preparing it needs a tensorflow/datasets source checkout, which has the file.
- Data is never downloaded at run time (``download=False``). Prepare it once:
  ``tfds build NAME --data_dir=DIR --file_format=array_record`` (ImageNet also
  needs ``--manual_dir`` holding ``ILSVRC2012_img_{train,val}.tar``; preparing
  may need TensorFlow in the environment that prepares). ``tfds_source``
  raises ``DatasetNotPreparedError`` naming the dataset, the data_dir and that
  command when the data is missing or was prepared as TFRecord.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from vjepa_jax.errors import DataError


@dataclasses.dataclass(frozen=True)
class ProbeDataset:
    """A TFDS image dataset used by a probe: its name, splits and class count."""

    tfds_name: str
    train_split: str
    eval_split: str
    num_classes: int
    official: str


PROBE_DATASETS: dict[str, ProbeDataset] = {
    'in1k': ProbeDataset('imagenet2012', 'train', 'validation', 1000, 'ImageNet'),
    'places365': ProbeDataset('places365_small', 'train', 'validation', 365,
                              'none (official probe: Places205, not in TFDS)'),
    'inat21': ProbeDataset('i_naturalist2021:2.0.1', 'train', 'val', 10000, 'iNat21'),
}

# Extra preparation notes for the not-prepared error, by TFDS builder name.
_PREPARE_NOTES = {
    'imagenet2012': ('ImageNet is not downloadable: put ILSVRC2012_img_train.tar and '
                     'ILSVRC2012_img_val.tar (from image-net.org) in a folder and add '
                     '--manual_dir=THAT_FOLDER.'),
    'i_naturalist2021': ('The tensorflow-datasets 4.9.10 wheel lacks this builder\'s label '
                         'file (i_naturalist2021_labels_ordered_by_json_id.txt); run the build '
                         'from a tensorflow/datasets source checkout, which has it.'),
}


class DatasetNotPreparedError(DataError, FileNotFoundError):
    """A TFDS dataset is not prepared (as ArrayRecord) in the given data_dir."""


def _default_data_dir() -> str:
    from tensorflow_datasets.core import constants  # lazy: importing TFDS takes ~0.5 s
    return str(constants.get_default_data_dir())


def _preparation_problem(name: str, data_dir: str) -> str | None:
    """Why ``name`` cannot be read from ``data_dir`` (None: it looks prepared as ArrayRecord)."""
    from etils import epath

    base, _, version = name.partition(':')
    root = epath.Path(data_dir) / base
    infos = []
    if root.is_dir():
        for pattern in ('*/dataset_info.json', '*/*/dataset_info.json'):
            infos += [p for p in root.glob(pattern)
                      if not any(part.startswith('incomplete') for part in p.parts)]
    if version and '*' not in version:
        infos = [p for p in infos if p.parent.name == version]
    if not infos:
        where = f'{root}/{version}' if version else str(root)
        return f'no prepared copy (no dataset_info.json under {where})'
    if not any(any(p.parent.glob('*.array_record*')) for p in infos):
        return (f'it is prepared in {infos[0].parent} but not as ArrayRecord (random access '
                'needs --file_format=array_record; TFRecord copies cannot be read here)')
    return None


def tfds_source(name: str, split: str, data_dir: str | os.PathLike | None = None) -> Any:
    """Random-access TFDS source of ``name`` / ``split`` (``tfds.data_source``, no download).

    Elements are dicts of NumPy values (for the image datasets here: ``'image'``
    uint8 ``[H, W, 3]``, ``'label'`` int). Raises ``DatasetNotPreparedError``
    (saying which dataset, which data_dir and the ``tfds build`` command) when
    the data is not prepared as ArrayRecord in ``data_dir`` (default: TFDS's,
    ``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``); other errors pass through.
    """
    import tensorflow_datasets as tfds

    data_dir = None if data_dir is None else os.fspath(data_dir)
    try:
        return tfds.data_source(name, split=split, data_dir=data_dir, download=False)
    except Exception as err:
        where = data_dir or _default_data_dir()
        problem = _preparation_problem(name, where)
        if problem is None:
            raise
        base = name.partition(':')[0]
        builder = base.partition('/')[0]
        lines = [(f'TFDS dataset {name!r} (split {split!r}) cannot be read from data_dir '
                  f'{where!r}: {problem}. Nothing is downloaded at run time; prepare it once '
                  'with:'),
                 f'  tfds build {base} --data_dir={where} --file_format=array_record']
        if builder in _PREPARE_NOTES:
            lines.append(_PREPARE_NOTES[builder])
        raise DatasetNotPreparedError('\n'.join(lines)) from err


def probe_source(dataset: str, *, training: bool,
                 data_dir: str | os.PathLike | None = None) -> Any:
    """The train (``training``) or eval split of ``PROBE_DATASETS[dataset]`` (``tfds_source``)."""
    if dataset not in PROBE_DATASETS:
        raise ValueError(f'Unknown probe dataset {dataset!r}; known: {sorted(PROBE_DATASETS)} '
                         '(or call tfds_source with any TFDS name).')
    spec = PROBE_DATASETS[dataset]
    split = spec.train_split if training else spec.eval_split
    return tfds_source(spec.tfds_name, split, data_dir)

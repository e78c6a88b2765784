"""Tiny stand-in TFDS copies of the image-probe datasets, for ``runlocal`` image probes.

The official image probes (``experiments/probe/{in1k,places205,inat21}.py``) read
a TFDS dataset prepared as ArrayRecord (``vjepa_jax.input.images.PROBE_DATASETS``:
``imagenet2012``, ``places365_small``, ``i_naturalist2021`` 2.0.1). This writes,
under the same names and versions, a few random images per split (labels
``i % 4``), built with TFDS itself (no TensorFlow, nothing downloaded), so that
``:runlocal`` runs the same reading code path on a CPU:

    python data/make_tiny_image_datasets.py --out data/tiny_tfds
    python -m vjepa_jax.main --config experiments/probe/in1k.py:runlocal,checkpoint=CKPT \\
        --workdir /tmp/in1k_local

(``data/tiny_tfds`` is where runlocal image probes look when no ``data=`` is
given.) The numbers such a run prints mean nothing: the images are noise.
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from PIL import Image


def _png(image: np.ndarray) -> io.BytesIO:
    """PNG bytes, so that TFDS encodes the images without TensorFlow."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format='PNG')
    buf.seek(0)
    return buf


def make_datasets(out: str | Path, num_examples: int = 8, seed: int = 0,
                  keys: Sequence[str] | None = None) -> Path:
    """Prepares ``num_examples`` images ``[36, 40, 3]`` per split of each ``PROBE_DATASETS`` key."""
    import tensorflow_datasets as tfds

    from vjepa_jax.input.images import PROBE_DATASETS

    out = Path(out)
    with tfds.core.registered.skip_registration():
        for key in sorted(keys or PROBE_DATASETS):
            spec = PROBE_DATASETS[key]
            name, _, version = spec.tfds_name.partition(':')
            version = version or str(tfds.builder_cls(name).VERSION)

            def info(self, classes=spec.num_classes):
                return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
                    'image': tfds.features.Image(shape=(None, None, 3)),
                    'label': tfds.features.ClassLabel(num_classes=classes)}))

            def split_generators(self, dl_manager, spec=spec):
                return {spec.train_split: self._generate_examples(seed),
                        spec.eval_split: self._generate_examples(seed + 1)}

            def generate_examples(self, split_seed: int) -> Iterator[tuple[int, dict]]:
                rng = np.random.default_rng(split_seed)
                for i in range(num_examples):
                    image = rng.integers(0, 256, (36, 40, 3), dtype=np.uint8)
                    yield i, {'image': _png(image), 'label': i % 4}

            builder = type(f'StandIn_{name}', (tfds.core.GeneratorBasedBuilder,), {
                'name': name, 'VERSION': tfds.core.Version(version), '_info': info,
                '_split_generators': split_generators,
                '_generate_examples': generate_examples})
            builder(data_dir=str(out), file_format='array_record').download_and_prepare()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description='Write tiny stand-in TFDS copies of the '
                                                 'image-probe datasets (runlocal).')
    parser.add_argument('--out', default='data/tiny_tfds', help='TFDS data_dir to write')
    parser.add_argument('--num-examples', type=int, default=8, help='images per split')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    print(f'stand-in image datasets in {make_datasets(args.out, args.num_examples, args.seed)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())

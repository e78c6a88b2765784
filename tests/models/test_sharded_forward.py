"""The logical axis names shard the encoder over 8 fake devices without changing outputs."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import AxisType, NamedSharding, PartitionSpec

from vjepa_jax.models import VisionTransformer

RULES = (('batch', ('data', 'fsdp')), ('embed', 'fsdp'), ('mlp', 'tensor'), ('heads', 'tensor'),
         ('head_dim', None), ('tokens', None), ('layers', None), ('classes', None))


@pytest.mark.integration  # multi-device compiles
@pytest.mark.parametrize('scan', [False, True])
def test_sharded_encoder_matches_single_device(scan):
    assert jax.device_count() == 8, 'conftest should provide 8 CPU devices'
    model = VisionTransformer(img_size=32, num_frames=4, patch_size=16, tubelet_size=2,
                              embed_dim=32, depth=2, num_heads=4, mlp_dim=64, scan_layers=scan)
    video = jax.random.normal(jax.random.key(0), (4, 4, 32, 32, 3))
    boxed = model.init(jax.random.key(1), video)
    ref = model.apply(nn.meta.unbox(boxed), video)

    mesh = jax.make_mesh((2, 2, 2), ('data', 'fsdp', 'tensor'),
                         axis_types=(AxisType.Auto,) * 3)
    specs = nn.get_partition_spec(boxed)
    shardings = nn.logical_to_mesh_sharding(specs, mesh, RULES)
    params = jax.device_put(nn.meta.unbox(boxed), shardings)
    kernel = params['params']['blocks']
    kernel = (kernel['layers'] if scan else kernel['layer_0'])['mlp']['fc1']['kernel']
    assert len(kernel.sharding.device_set) == 8 and not kernel.sharding.is_fully_replicated
    batch = jax.device_put(video, NamedSharding(mesh, PartitionSpec(('data', 'fsdp'))))

    @jax.jit
    def forward(p, x):
        with nn.logical_axis_rules(RULES):
            return model.apply(p, x)

    with jax.set_mesh(mesh):
        out = forward(params, batch)
    np.testing.assert_allclose(np.asarray(out), np.asarray(ref), atol=1e-5)
    assert jnp.shape(out) == (4, 8, 32)

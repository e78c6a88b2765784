"""Ahead-of-time compilation for accelerators this machine does not have.

``targets`` names the TPU pod slices (compile-only devices from the ``libtpu``
wheel) and abstract meshes, ``programs`` builds the very jitted steps that
training runs over them with abstract arguments, ``compile_report`` compiles
one and reads the compiler's memory, FLOP and collective figures. The command
line is ``python -m vjepa_jax.compile_check``.
"""

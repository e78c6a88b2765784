"""Mask samplers (host, NumPy) and the jit-safe token gather."""

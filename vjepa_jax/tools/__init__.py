"""User tools: feature extraction, pictures, checkpoint conversion and the demo's summary (each a CLI)."""

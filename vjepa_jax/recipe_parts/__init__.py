"""Pieces shared by the experiment files in experiments/ (one module per kind of job)."""

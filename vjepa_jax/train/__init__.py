"""Pretraining: losses, schedules, optimiser, train step and loop."""

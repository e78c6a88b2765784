"""Helpers shared by the test modules, one module per concern (imported as ``tests.helpers.x``).

``paths``: the repository and fixture locations; ``cli_runs``: CLI subprocess runs and
experiment configs; ``official_fixture``: official-code output directories;
``checkpoints``: tiny checkpoints and the official file; ``exit_status``: a tool's exit
status; ``tiny_setup``: tiny pretraining setups; ``coded_videos``: videos whose frames
carry their index.
"""

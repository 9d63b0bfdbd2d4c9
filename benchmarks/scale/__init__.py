"""In-process scale benchmarks (``python -m benchmarks.scale.NAME --help``); sizes are parameters."""

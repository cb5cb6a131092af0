"""What a run leaves on disk: config, checkpoints, metrics, image grids, progress."""

"""What each command does, as plain functions of frozen configs and paths (no Hydra),
so that tests can call them directly and the command layer stays thin."""

"""Hydra entry points, one per command: parse config, call a workflow.  Hydra and
OmegaConf stop here; below this layer everything takes frozen dataclasses."""

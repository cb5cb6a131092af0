"""Tiny configurations that compile in seconds."""
from metagan_cli.config import (AlgoConfig, LoopConfig, MetaLearnConfig, ModelConfig,
                                OptimConfig, TaskConfig, TrainConfig)


def tiny_config(**overrides) -> MetaLearnConfig:
    base = dict(
        task=TaskConfig(image_size=8),
        model=ModelConfig(image_size=8, z_dim=8, width=8),
        algo=AlgoConfig(meta_batch=2, inner_steps=2),
        inner_optim=OptimConfig(name="sgd", lr=0.05),
        outer_optim=OptimConfig(name="sgd", lr=1.0),
        loop=LoopConfig(scan_unroll="full", task_batching="unrolled"),
        train=TrainConfig(steps=4, log_every=2, sample_every=2, checkpoint_every=2),
    )
    base.update(overrides)
    return MetaLearnConfig(**base)

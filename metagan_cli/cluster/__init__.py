"""Running on clusters: several hosts under jax.distributed, preemption, run dir locks."""

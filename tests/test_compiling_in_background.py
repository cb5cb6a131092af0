"""meta-train compiles its meta-step from the shapes of its arguments on a second
thread while it initialises them; the jitted step must then run without tracing or
compiling again."""
import logging
import threading

import jax
import jax.numpy as jnp
import pytest
from jax.sharding import SingleDeviceSharding

from metagan_cli.workflows.meta_train import compiling_in_background


def test_the_first_call_after_compiling_from_shapes_neither_traces_nor_compiles(caplog):
    traces = []

    def step(x):
        traces.append(threading.current_thread().name)
        return jnp.sin(x) * 2.0

    step_fn = jax.jit(step)
    placement = SingleDeviceSharding(jax.local_devices()[0])
    shapes = jax.ShapeDtypeStruct((4,), jnp.float32, sharding=placement)
    with compiling_in_background(step_fn, (shapes,)):
        body = threading.current_thread().name
        x = jax.device_put(jnp.arange(4.0), placement)   # made while it compiles
    assert traces and traces[0] != body                   # traced on the other thread
    with jax.log_compiles(), caplog.at_level(logging.DEBUG):
        out = step_fn(x)
    assert len(traces) == 1
    assert not [r for r in caplog.records if "ompil" in r.getMessage()], caplog.text
    assert jnp.allclose(out, jnp.sin(x) * 2.0)


def test_an_error_while_compiling_reaches_the_caller():
    def broken(x):
        raise ValueError("bad shapes")

    with pytest.raises(ValueError, match="bad shapes"):
        with compiling_in_background(jax.jit(broken), (jnp.zeros(3),)):
            pass

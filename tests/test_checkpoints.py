import json
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metagan_cli.config import AlgoConfig
from metagan_cli.core.algorithms import algorithm, make_meta_step
from metagan_cli.core.gan import Gan
from metagan_cli.data.tasks import TaskData, to_class_images
from metagan_cli.core.meta_state import init_meta_state
from metagan_cli.runs.checkpoints import Checkpoints
from helpers import tiny_config


def test_meta_state_round_trip_keeps_last_n(tmp_path):
    cfg = tiny_config()
    gan = Gan(cfg.model, cfg.gan_loss)
    state = init_meta_state(cfg, gan)
    changed = jax.tree_util.tree_map(lambda x: x + 1, state)
    checkpoints = Checkpoints(tmp_path, keep=2)
    for step in (1, 2, 3):
        checkpoints.save(step, changed)
    assert checkpoints.latest_step() == 3
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit()) == ["2", "3"]
    restored = checkpoints.restore(state)
    for a, b in zip(jax.tree_util.tree_leaves(restored), jax.tree_util.tree_leaves(changed)):
        np.testing.assert_array_equal(a, b)
    assert jax.tree_util.tree_structure(restored) == jax.tree_util.tree_structure(state)


# second-order MAML once, with the most state: Meta-SGD's rates and DAWSON's objective
# (its compile takes a minute: out of the quick loop)
ALGOS = [dict(name="reptile"), dict(name="fomaml"),
         pytest.param(dict(name="maml", learn_inner_lr=True, outer_objective="dawson"), marks=pytest.mark.slow),
         dict(name="scratch"), dict(name="pretrain")]


@pytest.mark.parametrize("algo", ALGOS, ids=lambda a: "-".join(str(v) for v in a.values()))
def test_every_algorithm_round_trips_its_state_after_a_step(tmp_path, algo):
    cfg = tiny_config(algo=AlgoConfig(meta_batch=2, inner_steps=2, **algo))
    gan = Gan(cfg.model, cfg.gan_loss)
    state = init_meta_state(cfg, gan)
    if algorithm(cfg).trains:
        state, _ = jax.jit(make_meta_step(cfg, gan))(state, _class_images(), jnp.arange(7))
    Checkpoints(tmp_path).save(int(state["step"]), state)

    # what `adapt` and `eval` do: a fresh template from the saved config, then restore
    checkpoints = Checkpoints(tmp_path, read_only=True)
    restored = checkpoints.restore(init_meta_state(cfg, gan))
    assert jax.tree_util.tree_structure(restored) == jax.tree_util.tree_structure(state)
    for a, b in zip(jax.tree_util.tree_leaves(restored), jax.tree_util.tree_leaves(state)):
        np.testing.assert_array_equal(a, b)
    assert ("inner_lr" in restored["params"]) == algo.get("learn_inner_lr", False)


def _class_images():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 10).astype(np.int32)
    pixels = rng.integers(0, 256, (100, 8, 8, 1)).astype(np.uint8)
    return to_class_images(TaskData(pixels, labels, [str(i) for i in range(10)], tuple(range(7)), (7, 8, 9)))


def test_a_resumed_metrics_log_drops_the_records_after_its_checkpoint(tmp_path):
    """A run stopped between checkpoints logged steps it will log again on resume."""
    from metagan_cli.runs.metrics_log import MetricsLog
    lines = [json.dumps({"step": s, "d_loss": 1.0}) for s in (50, 100, 150)]
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines) + '\n{"step": 20')   # last line cut off
    log = MetricsLog(tmp_path, tensorboard=False, resume_step=100)
    log.write({"step": 150, "d_loss": 2.0})
    log.close()
    records = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [(r["step"], r["d_loss"]) for r in records] == [(50, 1.0), (100, 1.0), (150, 2.0)]

import jax
import numpy as np

from metagan_cli.core.gan import Gan
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

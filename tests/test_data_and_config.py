import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metagan_cli.config import AlgoConfig, ConfigError, MetaLearnConfig, ModelConfig, TaskConfig, from_dict, to_dict, validate
from metagan_cli.core.episodes import sample_episodes, sample_from_class
from metagan_cli.data.digits import load_digit_images
from metagan_cli.data.tasks import TaskData, to_class_images


def test_digits_are_the_real_bundled_dataset_resized():
    digits = load_digit_images(16)
    assert digits.pixels.shape == (1797, 16, 16, 1) and digits.pixels.dtype == np.uint8
    assert np.bincount(digits.labels).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    assert digits.pixels.min() == 0 and digits.pixels.max() > 240


def test_episode_images_are_distinct_members_of_their_class():
    labels = np.repeat(np.arange(4), [5, 9, 7, 6]).astype(np.int32)
    values = labels * 40 + np.arange(len(labels))          # class * 40 + a unique index
    pixels = (values[:, None, None, None] * np.ones((1, 2, 2, 1))).astype(np.uint8)
    data = to_class_images(TaskData(pixels, labels, list("abcd"), (0, 1), (2, 3)))
    decode = lambda x: np.round((np.asarray(x) + 1.0) * 127.5).astype(int)
    for seed in range(20):
        picked = decode(sample_from_class(jax.random.PRNGKey(seed), data, 3, 6))[:, 0, 0, 0]
        assert len(set(picked)) == 6 and all(v // 40 == 3 for v in picked)
    chosen, support, query = sample_episodes(jax.random.PRNGKey(0), data, jnp.array([0, 1, 2]), 3, 2, 1)
    assert sorted(np.asarray(chosen).tolist()) == [0, 1, 2]
    assert support.shape == (3, 2, 2, 2, 1) and query.shape == (3, 1, 2, 2, 1)
    for t, cls in enumerate(np.asarray(chosen)):
        found = np.concatenate([decode(support[t, :, 0, 0, 0]), decode(query[t, :, 0, 0, 0])])
        assert len(set(found)) == 3 and np.all(found // 40 == cls)


def test_config_round_trip_and_type_errors_name_the_key():
    cfg = MetaLearnConfig()
    assert from_dict(MetaLearnConfig, to_dict(cfg)) == cfg
    with pytest.raises(ConfigError, match="train.steps must be an integer"):
        from_dict(MetaLearnConfig, {"train": {"steps": "abc"}})
    with pytest.raises(ConfigError, match="unknown config key 'model.depth'"):
        from_dict(MetaLearnConfig, {"model": {"depth": 3}})


@pytest.mark.parametrize("change, message", [
    (dict(model=ModelConfig(image_size=12), task=TaskConfig(image_size=12)), "power of two"),
    (dict(model=ModelConfig(image_size=32)), "differs from task.image_size"),
    (dict(task=TaskConfig(train_classes=(0, 1, 7))), r"task.train_classes and task.test_classes share classes \[7\]"),
    (dict(shots=0), "shots must be >= 1"),
    (dict(algo=AlgoConfig(outer_mmd=1.0)), "algo=reptile has none of; use algo=maml or algo=fomaml"),
    (dict(algo=AlgoConfig(name="fomaml", outer_mmd=-1.0)), "algo.outer_mmd must be >= 0"),
])
def test_validate_rejects_inconsistent_configs(change, message):
    with pytest.raises(ConfigError, match=message):
        validate(MetaLearnConfig(**change))

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from metagan_cli.config import ConfigError, MetaLearnConfig, ModelConfig, TaskConfig, from_dict, to_dict, validate
from metagan_cli.core.episodes import sample_episodes, sample_from_class
from metagan_cli.data.digits import load_digit_images
from metagan_cli.data.imaging import load_image_folder
from metagan_cli.data.tasks import LabelledImages, to_class_images
from metagan_cli.errors import UserError


def test_digits_are_the_real_bundled_dataset_resized():
    images, labels = load_digit_images(16)
    assert images.shape == (1797, 16, 16, 1) and images.dtype == np.float32
    assert np.bincount(labels).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    assert images.min() == pytest.approx(-1.0) and images.max() > 0.9


def test_episode_images_are_distinct_members_of_their_class():
    labels = np.repeat(np.arange(4), [5, 9, 7, 6]).astype(np.int32)
    images = labels[:, None, None, None] * 100.0 + np.arange(len(labels))[:, None, None, None]
    data = to_class_images(LabelledImages(images.astype(np.float32) * np.ones((1, 2, 2, 1), np.float32), labels))
    for seed in range(20):
        picked = np.asarray(sample_from_class(jax.random.PRNGKey(seed), data, 3, 6))[:, 0, 0, 0]
        assert len(set(picked)) == 6 and all(v // 100 == 3 for v in picked)
    chosen, support, query = sample_episodes(jax.random.PRNGKey(0), data, jnp.array([0, 1, 2]), 3, 2, 1)
    assert sorted(np.asarray(chosen).tolist()) == [0, 1, 2]
    assert support.shape == (3, 2, 2, 2, 1) and query.shape == (3, 1, 2, 2, 1)
    for t, cls in enumerate(np.asarray(chosen)):
        values = np.concatenate([support[t, :, 0, 0, 0], query[t, :, 0, 0, 0]]) // 100
        assert np.all(values == cls)


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
    (dict(task=TaskConfig(train_classes=(0, 1, 7))), "both train_classes and test_classes"),
    (dict(shots=0), "shots must be >= 1"),
])
def test_validate_rejects_inconsistent_configs(change, message):
    with pytest.raises(ConfigError, match=message):
        validate(MetaLearnConfig(**change))


def test_image_folder_converts_any_mode_and_size(tmp_path):
    Image.new("RGB", (40, 30), (255, 255, 255)).save(tmp_path / "a.png")
    Image.new("L", (5, 5), 0).save(tmp_path / "b.jpg")
    Image.new("1", (9, 9), 1).save(tmp_path / "c.png")
    loaded = load_image_folder(tmp_path, 16)
    assert loaded.shape == (3, 16, 16, 1)
    np.testing.assert_allclose(loaded[0], 1.0)
    np.testing.assert_allclose(loaded[1], -1.0)


def test_image_folder_errors(tmp_path):
    with pytest.raises(UserError, match="no such folder"):
        load_image_folder(tmp_path / "missing", 16)
    (tmp_path / "f.png").write_bytes(b"not a png")
    with pytest.raises(UserError, match="is a file"):
        load_image_folder(tmp_path / "f.png", 16)
    with pytest.raises(UserError, match="cannot read image .*f.png"):
        load_image_folder(tmp_path, 16)
    with pytest.raises(UserError, match="holds 1 image files, 4 needed"):
        load_image_folder(tmp_path, 16, min_images=4)

"""Real and mocked datasets, user folders, and every bad input's one-line error."""
import dataclasses
import logging
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from metagan_cli.config import DataConfig, MetaLearnConfig, ModelConfig, TaskConfig
from metagan_cli.data.imaging import load_image_folder, to_pixels
from metagan_cli.data.tasks import check_enough_images, load_task
from metagan_cli.errors import UserError

SHARED = Path(__file__).resolve().parents[2] / "shared"
MNIST_DIR = os.environ.get("TFDS_DATA_DIR") or str(SHARED / "tfds")
HAS_MNIST = (Path(MNIST_DIR) / "mnist").is_dir()
OMNIGLOT_SMALL = SHARED / "omniglot_small1" / "images_background_small1"


def task_config(task: TaskConfig, data: DataConfig) -> MetaLearnConfig:
    return MetaLearnConfig(task=task, model=ModelConfig(image_size=task.image_size), data=data)


MNIST_TASK = TaskConfig(name="fewshot_mnist", source="tfds", tfds_name="mnist", image_size=32,
                        split="mnist_holdout_789", train_classes=(), test_classes=())


@pytest.mark.slow      # decodes 60,000 images
@pytest.mark.skipif(not HAS_MNIST, reason=f"no prepared TFDS mnist in {MNIST_DIR}")
def test_mnist_from_the_prepared_tfds_dir_with_the_shipped_splits(tmp_path):
    data_cfg = DataConfig(data_dir=MNIST_DIR, cache_dir=str(tmp_path / "cache"))
    data = load_task(task_config(MNIST_TASK, data_cfg))
    assert data.pixels.shape == (60000, 32, 32, 1) and data.pixels.dtype == np.uint8
    assert np.bincount(data.labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert data.train_classes == (0, 1, 2, 3, 4, 5) and data.test_classes == (7, 8, 9)
    assert data.validation_classes == (6,)     # from the split file, never meta-trained on
    assert data.pixels.mean() < 60          # strokes bright on a dark background
    assert len(list((tmp_path / "cache").glob("mnist-*.npz"))) == 1

    figr = load_task(task_config(dataclasses.replace(MNIST_TASK, split="mnist_figr_9"), data_cfg))
    assert figr.train_classes == tuple(range(8)) and figr.test_classes == (9,)
    assert figr.validation_classes == (8,)
    np.testing.assert_array_equal(figr.pixels, data.pixels)   # served from the cache
    # two validation digits, so a setting can be chosen per run on MNIST; the same held-out digits
    val56 = load_task(task_config(dataclasses.replace(MNIST_TASK, split="mnist_holdout_789_val56"), data_cfg))
    assert (val56.train_classes, val56.validation_classes, val56.test_classes) == ((0, 1, 2, 3, 4), (5, 6), (7, 8, 9))


def test_unprepared_tfds_dir_names_the_dir_and_the_fix(tmp_path):
    cfg = task_config(MNIST_TASK, DataConfig(data_dir=str(tmp_path), cache_dir="off"))
    with pytest.raises(UserError) as err:
        load_task(cfg)
    message = str(err.value)
    assert str(tmp_path) in message and "not prepared" in message
    assert "tfds build mnist" in message and "data.data_dir=" in message


def test_omniglot_through_tfds_mock_data(tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    rng = np.random.default_rng(0)

    def fake_split(builder, split, **kwargs):
        labels = [0, 1, 2] if split == "train" else [900, 901]     # background vs evaluation
        examples = []
        for label in labels:
            for drawer in range(5):
                image = np.full((105, 105, 3), 255, np.uint8)       # dark strokes on white
                row = 20 + 10 * (label % 5) + drawer
                image[row:row + 8, 10:90] = 0
                examples.append({"image": image, "label": label, "alphabet": 0,
                                 "alphabet_char_id": label})
        rng.shuffle(examples)
        return examples

    task = TaskConfig(name="fewshot_omniglot", source="tfds", tfds_name="omniglot", image_size=32,
                      tfds_train_split="train", tfds_test_split="test", invert=True,
                      train_classes=(), test_classes=())
    with tfds.testing.mock_data(as_data_source_fn=fake_split):
        data = load_task(task_config(task, DataConfig(data_dir=str(tmp_path), cache_dir="off")))
    assert data.train_classes == (0, 1, 2) and data.test_classes == (900, 901)
    assert data.pixels.shape == (25, 32, 32, 1)
    assert data.pixels.mean() < 60 and data.pixels.max() > 200   # inverted: strokes bright
    assert len(data.class_names) == 1623


def _omniglot_task(**changes):
    base = TaskConfig(name="folder", source="folder", image_size=32, invert="auto",
                      train_classes=(), test_classes=())
    return dataclasses.replace(base, **changes)


@pytest.mark.skipif(not OMNIGLOT_SMALL.is_dir(), reason=f"no Omniglot images in {OMNIGLOT_SMALL}")
def test_folder_task_on_real_omniglot_holds_out_an_alphabet(tmp_path):
    data_cfg = DataConfig(path=str(OMNIGLOT_SMALL), cache_dir=str(tmp_path))
    data = load_task(task_config(_omniglot_task(holdout_group="Greek"), data_cfg))
    assert len(data.class_names) == 136 and data.pixels.shape == (2720, 32, 32, 1)
    held_out = {data.class_names[c] for c in data.test_classes}
    assert len(held_out) == 24 and all(name.startswith("Greek/character") for name in held_out)
    assert not set(data.train_classes) & set(data.test_classes)
    assert data.pixels.mean() < 60      # 1-bit black-on-white glyphs, inverted by auto

    by_fraction = load_task(task_config(_omniglot_task(holdout_fraction=0.25), data_cfg))
    assert len(by_fraction.test_classes) == 34
    again = load_task(task_config(_omniglot_task(holdout_fraction=0.25), data_cfg))
    assert again.test_classes == by_fraction.test_classes       # a fixed split

    split = tmp_path / "my_split.json"
    split.write_text('{"test_classes": ["Latin/character01", "Korean/character02"]}')
    by_file = load_task(task_config(_omniglot_task(split=str(split)), data_cfg))
    assert [by_file.class_names[c] for c in by_file.test_classes] == ["Latin/character01", "Korean/character02"]


@pytest.mark.skipif(not OMNIGLOT_SMALL.is_dir(), reason=f"no Omniglot images in {OMNIGLOT_SMALL}")
def test_validation_classes_come_out_of_the_meta_train_classes(tmp_path):
    data_cfg = DataConfig(path=str(OMNIGLOT_SMALL), cache_dir=str(tmp_path))
    task = _omniglot_task(holdout_group="Greek", validation_fraction=0.1)
    data = load_task(task_config(task, data_cfg))
    train, val, test = set(data.train_classes), set(data.validation_classes), set(data.test_classes)
    assert len(val) == 11 and len(train) == 101 and len(test) == 24     # 10% of the 112 others
    assert not (train & val) and not (val & test) and not (train & test)
    again = load_task(task_config(task, data_cfg))
    assert again.validation_classes == data.validation_classes           # fixed, seed-independent
    by_alphabet = load_task(task_config(_omniglot_task(holdout_group="Greek", validation_group="Latin"),
                                        data_cfg))
    names = [by_alphabet.class_names[c] for c in by_alphabet.validation_classes]
    assert len(names) == 26 and all(n.startswith("Latin/") for n in names)
    with pytest.raises(UserError, match="held out"):
        split = tmp_path / "bad.json"
        split.write_text('{"test_classes": ["Latin/character01"], "validation_classes": ["Latin/character01"]}')
        load_task(task_config(_omniglot_task(split=str(split)), data_cfg))


def _write(path: Path, mode="L", size=(20, 20), fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, 255 if mode in ("L", "1") else 0).save(path, format=fmt)


def _folder_error(root, **task_changes):
    cfg = task_config(_omniglot_task(**task_changes), DataConfig(path=str(root), cache_dir="off"))
    with pytest.raises(UserError) as err:
        load_task(cfg)
    return str(err.value)


def test_bad_folders_get_clear_errors(tmp_path):
    assert "no such folder" in _folder_error(tmp_path / "missing")
    _write(tmp_path / "a_file.png")
    assert "is a file" in _folder_error(tmp_path / "a_file.png")
    (tmp_path / "empty").mkdir()
    assert "holds no image files" in _folder_error(tmp_path / "empty")
    (tmp_path / "texts" / "x").mkdir(parents=True)
    (tmp_path / "texts" / "x" / "notes.txt").write_text("hi")
    assert "holds no image files" in _folder_error(tmp_path / "texts")
    for i in range(3):
        _write(tmp_path / "one" / "only_class" / f"{i}.png")
    assert "1 class folder" in _folder_error(tmp_path / "one")
    for i in range(3):
        _write(tmp_path / "flat" / f"{i}.png")
    assert "1 class folder" in _folder_error(tmp_path / "flat")


def test_zero_byte_and_corrupt_files_are_named(tmp_path):
    for cls in ("a", "b"):
        for i in range(3):
            _write(tmp_path / "zero" / cls / f"{i}.png")
    (tmp_path / "zero" / "b" / "empty.png").write_bytes(b"")
    assert "empty.png is empty (0 bytes)" in _folder_error(tmp_path / "zero")
    (tmp_path / "zero" / "b" / "empty.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    assert "cannot read image" in _folder_error(tmp_path / "zero") and "empty.png" in _folder_error(tmp_path / "zero")


def test_non_images_are_skipped_with_a_warning_and_small_classes_are_caught(tmp_path, caplog):
    for cls, count in (("a", 5), ("b", 2), ("c", 5)):
        for i in range(count):
            _write(tmp_path / cls / f"{i}.png")
    (tmp_path / "a" / "README.txt").write_text("not an image")
    with caplog.at_level(logging.WARNING, logger="metagan"):
        data = load_task(task_config(_omniglot_task(holdout_group="c"),
                                     DataConfig(path=str(tmp_path), cache_dir="off")))
    assert "skipping 1 non-image file" in caplog.text
    assert data.pixels.shape[0] == 12
    with pytest.raises(UserError, match="class b has 2 images but shots=4 needs 4"):
        check_enough_images(data, data.train_classes, 4, "shots=4")


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I", "F"])
def test_every_image_mode_becomes_grayscale_pixels(mode):
    image = Image.new(mode, (37, 23))
    pixels = to_pixels(image, 16)
    assert pixels.shape == (16, 16, 1) and pixels.dtype == np.uint8


def test_image_folder_for_adapt_reads_png_and_jpeg_and_inverts_light_backgrounds(tmp_path):
    Image.new("RGB", (40, 30), (255, 255, 255)).save(tmp_path / "a.png")
    Image.new("L", (5, 5), 255).save(tmp_path / "b.jpg", format="JPEG")
    Image.new("1", (9, 9), 1).save(tmp_path / "c.png")
    Image.new("RGBA", (12, 12), (255, 255, 255, 255)).save(tmp_path / "d.png")
    loaded = load_image_folder(tmp_path, 16, invert=False)
    assert loaded.shape == (4, 16, 16, 1) and loaded.dtype == np.float32
    np.testing.assert_allclose(loaded, 1.0, atol=1e-6)
    auto = load_image_folder(tmp_path, 16, invert="auto")   # light background -> inverted
    np.testing.assert_allclose(auto, -1.0, atol=1e-6)


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
    (tmp_path / "f.png").unlink()
    with pytest.raises(UserError, match="holds no image files"):
        load_image_folder(tmp_path, 16)

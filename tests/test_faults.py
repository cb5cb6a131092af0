"""Faults that could lose work: a damaged checkpoint, a full disk, a run dir from an
incompatible metagan.  The last good checkpoint survives each, and each ends in one line."""
import errno
import json
import os
import subprocess
import sys

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from metagan_cli.core.gan import Gan
from metagan_cli.core.meta_state import init_meta_state
from metagan_cli.errors import UserError, WriteFailed
from metagan_cli.runs.checkpoints import DAMAGED_DIR, FILE_LIST, Checkpoints, DamagedCheckpoint
from metagan_cli.runs.run_dir import RUN_FORMAT, read_run_info, write_run_info
from metagan_cli.workflows.meta_train import meta_train
from helpers import tiny_config


def _truncate_largest_file(step_dir):
    """A copy cut short: the largest array file of one checkpoint loses its second half."""
    largest = max((p for p in step_dir.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    os.truncate(largest, largest.stat().st_size // 2)


def _saved_states(tmp_path, steps=(2, 4)):
    cfg = tiny_config()
    state = init_meta_state(cfg, Gan(cfg.model, cfg.gan_loss))
    states = {s: jax.tree_util.tree_map(lambda x, s=s: x + s, state) for s in steps}
    checkpoints = Checkpoints(tmp_path)
    for s in steps:
        checkpoints.save(s, states[s])
    checkpoints.close()
    return state, states


def test_a_truncated_latest_checkpoint_is_named_and_set_aside(tmp_path):
    like, states = _saved_states(tmp_path)
    _truncate_largest_file(tmp_path / "checkpoints" / "4")
    with pytest.raises(DamagedCheckpoint, match=r"checkpoints/4 cannot be read \(.+\); it is damaged"):
        Checkpoints(tmp_path, read_only=True).restore(like)

    checkpoints = Checkpoints(tmp_path)
    step, damaged = checkpoints.newest_intact(like, set_aside=True)
    assert step == 2 and [d.path.name for d in damaged] == ["4"]
    assert checkpoints.latest_step() == 2 and (tmp_path / DAMAGED_DIR / "4").is_dir()
    for a, b in zip(jax.tree_util.tree_leaves(checkpoints.restore(like)), jax.tree_util.tree_leaves(states[2])):
        np.testing.assert_array_equal(a, b)
    checkpoints.save(4, states[4])                      # the step can be saved again
    assert checkpoints.latest_step() == 4
    checkpoints.close()


def test_a_flipped_byte_is_caught_by_the_file_list_before_orbax_reads_it(tmp_path):
    like, _ = _saved_states(tmp_path)
    largest = max((p for p in (tmp_path / "checkpoints" / "4").rglob("*") if p.is_file()),
                  key=lambda p: p.stat().st_size)
    data = bytearray(largest.read_bytes())
    data[len(data) // 2] ^= 0x01                     # same size, one bit changed
    largest.write_bytes(bytes(data))
    with pytest.raises(DamagedCheckpoint, match=rf"checkpoints/4 cannot be read \(\S*{largest.name} does "
                                                rf"not hold the bytes written \(SHA-256 differs\)\); it is damaged$"):
        Checkpoints(tmp_path, read_only=True).restore(like)
    assert Checkpoints(tmp_path, read_only=True).restore(like, step=2) is not None


def test_a_step_without_a_file_list_still_restores_and_damage_to_it_is_named(tmp_path):
    """Steps saved before the file list existed: orbax's own read error names them."""
    like, states = _saved_states(tmp_path)
    for step in (2, 4):
        (tmp_path / "checkpoints" / str(step) / FILE_LIST).unlink()
    restored = Checkpoints(tmp_path, read_only=True).restore(like, step=2)
    for a, b in zip(jax.tree_util.tree_leaves(restored), jax.tree_util.tree_leaves(states[2])):
        np.testing.assert_array_equal(a, b)
    _truncate_largest_file(tmp_path / "checkpoints" / "4")
    with pytest.raises(DamagedCheckpoint, match=r"checkpoints/4 cannot be read \(.+\); it is damaged, or was"):
        Checkpoints(tmp_path, read_only=True).restore(like)


def test_a_full_disk_while_checkpointing_stops_in_one_error_and_keeps_the_last_good_one(tmp_path, monkeypatch):
    cfg = tiny_config()
    run_dir = tmp_path / "run"
    save = ocp.CheckpointManager.save

    def disk_full_at_step_4(self, step, *args, **kwargs):
        if step == 4:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.directory))
        return save(self, step, *args, **kwargs)

    monkeypatch.setattr(ocp.CheckpointManager, "save", disk_full_at_step_4)
    with pytest.raises(WriteFailed) as caught:
        meta_train(cfg, run_dir)
    message = str(caught.value)
    assert "could not write the checkpoint of step 4" in message and "No space left on device" in message
    assert "the last good checkpoint, step 2, is intact" in message and "\n" not in message
    assert WriteFailed.exit_status != 0
    monkeypatch.undo()
    checkpoints = Checkpoints(run_dir, read_only=True)
    assert checkpoints.latest_step() == 2
    checkpoints.restore(init_meta_state(cfg, Gan(cfg.model, cfg.gan_loss)))    # intact


def test_an_unwritable_metrics_log_is_one_error_too(tmp_path, monkeypatch):
    from metagan_cli.runs import metrics_log
    cfg = tiny_config()

    def refuse(self, record):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(tmp_path / "run" / "metrics.jsonl"))

    monkeypatch.setattr(metrics_log.MetricsLog, "write", refuse)
    with pytest.raises(WriteFailed, match=r"could not write .*metrics.jsonl \(Read-only file system\)"):
        meta_train(cfg, tmp_path / "run")


def _run_dir(tmp_path, **changes):
    cfg = tiny_config()
    (tmp_path / "checkpoints").mkdir(parents=True)
    write_run_info(tmp_path, "meta-train", cfg)
    info = json.loads((tmp_path / "run.json").read_text())
    info.update(changes)
    for key in [k for k, v in changes.items() if v is None]:
        del info[key]
    (tmp_path / "run.json").write_text(json.dumps(info))
    return cfg


def test_run_dirs_carry_their_versions_and_a_newer_format_is_refused(tmp_path):
    cfg = _run_dir(tmp_path / "now")
    _, info, read = read_run_info(tmp_path / "now")
    assert info["run_format"] == RUN_FORMAT and info["metagan_version"] and read == cfg

    _run_dir(tmp_path / "older", run_format=None, metagan_version="0.0.9")   # before the key: format 1
    assert read_run_info(tmp_path / "older")[2] == cfg

    _run_dir(tmp_path / "newer", run_format=RUN_FORMAT + 1, metagan_version="9.0.0")
    with pytest.raises(UserError, match=rf"written by metagan 9.0.0 \(run format {RUN_FORMAT + 1}\); this is "
                                        rf"metagan \S+, which reads run formats 1-{RUN_FORMAT}"):
        read_run_info(tmp_path / "newer")


@pytest.mark.slow
def test_the_cli_resumes_past_a_damaged_checkpoint_and_names_it(tmp_path):
    tiny = ["task.image_size=8", "model.width=8", "model.z_dim=8", "algo.meta_batch=2", "algo.inner_steps=2",
            "train.checkpoint_every=2", "train.log_every=2", "hydra.run.dir=run"]
    metagan = lambda *args: subprocess.run([sys.executable, "-m", "metagan_cli", *args], cwd=tmp_path,
                                           capture_output=True, text=True)
    assert metagan("meta-train", *tiny, "train.steps=4").returncode == 0
    _truncate_largest_file(tmp_path / "run" / "checkpoints" / "4")

    sample = metagan("sample", "checkpoint=run", "n=2", "hydra.run.dir=s")
    assert sample.returncode == 2 and "Traceback" not in sample.stderr
    assert len(sample.stderr.strip().splitlines()) == 1 and "run/checkpoints/4 cannot be read" in sample.stderr

    resumed = metagan("meta-train", *tiny, "train.steps=6")
    assert resumed.returncode == 0, resumed.stderr
    log = resumed.stderr + resumed.stdout
    assert "skipping a damaged checkpoint" in log and "checkpoints/4 cannot be read" in log
    assert "resuming from the checkpoint at step 2" in log
    steps = [json.loads(l)["step"] for l in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [2, 4, 6]
    assert metagan("sample", "checkpoint=run", "n=2", "hydra.run.dir=s2").returncode == 0

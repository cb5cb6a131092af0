"""scripts/quality_ablation.py: the rows that read another row's pretrain baseline
instead of training their own."""
import importlib.util
from pathlib import Path

from hydra import compose, initialize_config_module

from metagan_cli.commands.hydra_app import meta_learn_config
from metagan_cli.evaluation.methods import pretrain_config, with_full_adaptation

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "quality_ablation.py"
spec = importlib.util.spec_from_file_location("quality_ablation", SCRIPT)
quality_ablation = importlib.util.module_from_spec(spec)
spec.loader.exec_module(quality_ablation)


def test_rows_sharing_a_pretrain_baseline_train_it_with_the_same_config():
    """The eval trains a row's pretrain baseline from ``pretrain_config`` of the row's run
    config; two rows may share it only where those configs differ in nothing but the
    adaptation-only settings, which pretraining ignores (bit for bit:
    test_meta_training_ignores_the_adaptation_only_settings[pretrain])."""
    assert quality_ablation.SAME_PRETRAIN_AS
    with initialize_config_module(config_module="metagan_cli.conf", version_base="1.3"):
        def pretrained(row: str):
            run = meta_learn_config(compose(config_name="meta_train", overrides=quality_ablation.ROWS[row]))
            return with_full_adaptation(pretrain_config(run, 2000))

        for row, source in quality_ablation.SAME_PRETRAIN_AS.items():
            assert row in quality_ablation.ROWS and source in quality_ablation.ROWS
            assert quality_ablation.ROWS[row] != quality_ablation.ROWS[source]
            assert pretrained(row) == pretrained(source), (row, source)
        # and the check can fail: a lever that pretraining does read is told apart
        assert pretrained("mode_seeking") != pretrained("baseline")

"""End to end through the real `metagan` entry point, in a tiny configuration."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
TINY = ["task.image_size=8", "model.width=8", "model.z_dim=8", "algo.meta_batch=2",
        "algo.inner_steps=2", "train.steps=4", "train.log_every=2", "train.sample_every=2",
        "train.checkpoint_every=2"]


def metagan(*args, cwd, check=True):
    exe = shutil.which("metagan")
    cmd = [exe] if exe else [sys.executable, "-m", "metagan_cli"]
    # the test run's compilation cache (conftest.py): CLI runs of one tiny config share programs
    result = subprocess.run(cmd + list(args), cwd=cwd, capture_output=True, text=True, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"metagan {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


# the tests of one trained run stay on one test worker, which trains it once
SHARES_TRAINED_RUN = pytest.mark.xdist_group("cli_trained_run")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    work = tmp_path_factory.mktemp("cli")
    metagan("meta-train", *TINY, "hydra.run.dir=runs/train", cwd=work)
    return work, work / "runs" / "train"


@pytest.mark.slow
@SHARES_TRAINED_RUN
def test_meta_train_writes_the_run_dir(trained):
    _, run = trained
    assert (run / ".hydra" / "config.yaml").is_file()
    log = (run / "meta_train.log").read_text()
    # the first step compiles: the log says so before, and how long it took after
    assert log.index("compiling the meta-step ...") < log.index("compiled the meta-step in")
    assert json.loads((run / "run.json").read_text())["kind"] == "meta-train"
    assert sorted(p.name for p in (run / "checkpoints").iterdir() if p.name.isdigit()) == ["2", "4"]
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4]
    for r in records:
        assert {"step", "time_s", "d_loss", "g_loss", "inner_steps_per_s"} <= set(r)
        assert np.isfinite(r["d_loss"]) and np.isfinite(r["g_loss"])
    assert records[-1]["inner_steps_per_s"] > 0
    assert (run / "samples" / "step_000004.png").is_file()
    assert any((run / "tensorboard").iterdir())


@pytest.mark.slow
@SHARES_TRAINED_RUN
def test_adapt_to_a_held_out_class_and_to_a_folder(trained):
    work, run = trained
    metagan("adapt", f"checkpoint={run}", "class=8", "hydra.run.dir=runs/adapt8", cwd=work)
    adapted = work / "runs" / "adapt8"
    info = json.loads((adapted / "run.json").read_text())
    assert info["kind"] == "adapted" and info["adaptation"]["class"] == 8
    assert info["adaptation"]["shots"] == 4 and info["adaptation"]["adapt_steps"] == 2
    assert Image.open(adapted / "adapt_grid.png").size[0] > 0

    folder = work / "my_images"
    folder.mkdir()
    for i, mode in enumerate(["L", "RGB", "RGBA", "1"]):
        Image.new(mode, (20 + i, 20)).save(folder / f"img{i}.png")
    Image.new("RGB", (28, 28)).save(folder / "img4.jpg")
    metagan("adapt", f"checkpoint={run}", "images=my_images", "adapt.steps=3",
            "hydra.run.dir=runs/adapt_folder", cwd=work)
    info = json.loads((work / "runs" / "adapt_folder" / "run.json").read_text())
    assert info["adaptation"]["shots"] == 5 and info["adaptation"]["adapt_steps"] == 3


@pytest.mark.slow
@SHARES_TRAINED_RUN
def test_sample_is_deterministic_per_seed(trained):
    work, run = trained
    for name, seed in (("s1", 0), ("s2", 0), ("s3", 1)):
        metagan("sample", f"checkpoint={run}", "n=10", f"seed={seed}", f"hydra.run.dir=runs/{name}", cwd=work)
    load = lambda name: np.load(work / "runs" / name / "samples.npz")["images"]
    assert load("s1").shape == (10, 8, 8, 1) and load("s1").dtype == np.uint8
    np.testing.assert_array_equal(load("s1"), load("s2"))
    assert not np.array_equal(load("s1"), load("s3"))
    assert (work / "runs" / "s1" / "samples.png").is_file()


@pytest.mark.slow
@SHARES_TRAINED_RUN
def test_temperature_scales_z_wherever_images_are_drawn(trained):
    """temperature= draws z ~ N(0, T^2) in sample and adapt; an adapt dir keeps its
    temperature, so sampling it later draws as its grid did."""
    work, run = trained
    metagan("sample", f"checkpoint={run}", "n=10", "hydra.run.dir=runs/t1", cwd=work)
    metagan("sample", f"checkpoint={run}", "n=10", "temperature=2", "hydra.run.dir=runs/t2", cwd=work)
    load = lambda name: np.load(work / "runs" / name / "samples.npz")
    np.testing.assert_allclose(load("t2")["z"], 2 * load("t1")["z"], rtol=1e-6)
    assert float(load("t2")["temperature"]) == 2.0 and float(load("t1")["temperature"]) == 1.0
    assert not np.array_equal(load("t1")["images"], load("t2")["images"])

    metagan("adapt", f"checkpoint={run}", "class=8", "temperature=0.5", "hydra.run.dir=runs/adapt_t", cwd=work)
    info = json.loads((work / "runs" / "adapt_t" / "run.json").read_text())
    assert info["adaptation"]["sample_temperature"] == 0.5
    metagan("sample", "checkpoint=runs/adapt_t", "n=10", "hydra.run.dir=runs/t_adapted", cwd=work)
    np.testing.assert_allclose(load("t_adapted")["z"], 0.5 * load("t1")["z"], rtol=1e-6)


@pytest.mark.slow
@SHARES_TRAINED_RUN
def test_eval_on_validation_classes_measures_them_and_says_so(trained):
    """eval.classes=validation measures the run's validation class (6) in place of the
    held-out ones (7, 8, 9), at the temperature asked for, and the report says so."""
    work, run = trained
    metagan("eval", f"checkpoint={run}", "eval.classes=validation", "temperature=1.5", "eval.episodes=1",
            "eval.samples=8", "eval.budgets=[0]", "eval.real_images=40", "eval.evaluator_steps=30",
            "eval.grid_classes=0", "eval.classification.ways=[2]", "eval.tuning.lrs=[]", "eval.low_data.ks=[]",
            "eval.baselines.pretrain=off", "eval.baselines.scratch=false", "hydra.run.dir=runs/eval_val", cwd=work)
    result = json.loads((work / "runs" / "eval_val" / "eval.json").read_text())
    assert {r["class"] for r in result["records"] if r["stage"] == "generation"} == {"6", "all held-out"}
    meta = result["metadata"]
    assert meta["classes_measured"] == "validation" and meta["held_out_classes"] == ["6"]
    assert meta["evaluated_sample_temperature"] == 1.5
    report = (work / "runs" / "eval_val" / "report.md").read_text()
    assert "Measured on the validation classes" in report and "N(0, 1.5^2)" in report

    # a run without validation classes is told how to get some
    shutil.copytree(run, work / "runs" / "no_validation")
    info_path = work / "runs" / "no_validation" / "run.json"
    info = json.loads(info_path.read_text())
    info["config"]["task"]["validation_classes"] = []
    info_path.write_text(json.dumps(info))
    refused = metagan("eval", "checkpoint=runs/no_validation", "eval.classes=validation", cwd=work, check=False)
    assert refused.returncode == 2 and "the run has no validation classes" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr


@pytest.mark.slow
@SHARES_TRAINED_RUN
def test_eval_writes_records_for_every_method(trained):
    """A meta-trained (reptile) run beside scratch and copy-the-shots: value records per
    class and pooled, paired verdicts against each baseline, plots."""
    work, run = trained
    out = metagan("eval", f"checkpoint={run}", "eval.episodes=1", "eval.samples=8", "eval.budgets=[0,2]",
                  "eval.chunk=2", "eval.real_images=40", "eval.evaluator_steps=30", "eval.grid_classes=1",
                  "eval.classification.episodes=2", "eval.classification.ways=[2]",
                  "eval.classification.generated_per_class=4", "eval.tuning.lrs=[]", "eval.low_data.ks=[]",
                  "eval.baselines.pretrain=off", "hydra.run.dir=runs/eval", cwd=work)
    assert "reference classifier" in out.stdout and "for evaluation only" in out.stdout
    result = json.loads((work / "runs" / "eval" / "eval.json").read_text())
    records = result["records"]
    assert {r["method"] for r in records} == {"reptile (evaluated)", "scratch", "copy the shots",
                                              "real shots only"}      # classification's reference row
    assert {r["class"] for r in records if r["stage"] == "generation"} == {"7", "8", "9", "all held-out"}
    for r in records:
        assert {"run", "stage", "kind", "method", "class", "shots", "adapt_steps", "metric", "n", "over"} <= set(r)
        if r["kind"] == "value" and r["metric"].startswith(("recognisability", "accuracy")):
            assert 0.0 <= r["value"] <= 1.0
    paired = {r["baseline"] for r in records if r["kind"] == "paired"}
    assert paired == {"scratch", "copy the shots", "real shots only"}
    meta = result["metadata"]
    assert meta["seed"] == 0 and meta["samples_per_episode"] == 8 and "jax" in meta["versions"]
    assert meta["reference_classifier"]["held_out_accuracy"] > 0.9
    assert (work / "runs" / "eval" / "plots" / "recognisability.png").is_file()


@pytest.mark.slow
@SHARES_TRAINED_RUN
def test_a_dagan_run_generates_from_shots_joins_another_runs_eval_and_compares(trained):
    """algo=dagan trains its pair model; adapt follows the shots without fine-tuning by
    default; its run is one more method in a meta-learner's eval, with its own sampler;
    compare puts both side by side, each drawing z at its own run's temperature."""
    work, run = trained
    metagan("meta-train", *TINY, "algo=dagan", "algo.sample_temperature=1.5", "hydra.run.dir=runs/dagan", cwd=work)
    info = json.loads((work / "runs" / "dagan" / "run.json").read_text())["config"]
    assert (info["algo"]["name"], info["model"]["arch"]) == ("dagan", "dagan")
    metagan("adapt", "checkpoint=runs/dagan", "class=8", "hydra.run.dir=runs/dagan_adapt", cwd=work)
    assert json.loads((work / "runs" / "dagan_adapt" / "run.json").read_text())["adaptation"]["adapt_steps"] == 0
    metagan("sample", "checkpoint=runs/dagan_adapt", "n=6", "hydra.run.dir=runs/dagan_sample", cwd=work)
    assert np.load(work / "runs" / "dagan_sample" / "samples.npz")["images"].shape == (6, 8, 8, 1)

    metagan("eval", f"checkpoint={run}", "eval.baselines.dagan=runs/dagan", "eval.episodes=1", "eval.samples=8",
            "eval.budgets=[0,2]", "eval.chunk=2", "eval.real_images=40", "eval.evaluator_steps=30",
            "eval.grid_classes=0", "eval.classification.episodes=2", "eval.classification.ways=[2]",
            "eval.classification.generated_per_class=4", "eval.tuning.lrs=[]", "eval.low_data.ks=[]",
            "eval.baselines.pretrain=off", "eval.baselines.scratch=false", "hydra.run.dir=runs/eval_dagan", cwd=work)
    result = json.loads((work / "runs" / "eval_dagan" / "eval.json").read_text())
    assert result["metadata"]["methods"] == ["reptile (evaluated)", "DAGAN", "copy the shots"]
    assert result["metadata"]["dagan_baseline"]["run_dir"].endswith("dagan")
    paired = {(r["baseline"], r["adapt_steps"]) for r in result["records"]
              if r["kind"] == "paired" and r["stage"] == "generation"}
    assert ("DAGAN", 0) in paired and ("DAGAN", 2) in paired
    refused = metagan("eval", f"checkpoint={run}", "eval.baselines.dagan=runs/eval_dagan", "eval.low_data.ks=[]",
                      "hydra.run.dir=runs/eval_refused", cwd=work, check=False)
    assert refused.returncode == 2 and "eval.baselines.dagan" in refused.stderr
    assert "Traceback" not in refused.stderr

    # compare: both methods side by side, paired; a run of another split is refused
    metagan("compare", f"runs=[{run},runs/dagan]", "eval.episodes=1", "eval.samples=8", "eval.budgets=[0,2]",
            "eval.chunk=2", "eval.real_images=40", "eval.evaluator_steps=30", "eval.grid_classes=1",
            "eval.classification.episodes=2", "eval.classification.ways=[2]",
            "eval.classification.generated_per_class=4", "eval.low_data.ks=[1]", "eval.low_data.seeds=2",
            "eval.low_data.generated=4", "eval.low_data.classifier_steps=20", "eval.low_data.mix_augmented=true",
            "hydra.run.dir=runs/compare", cwd=work)
    out = work / "runs" / "compare"
    result = json.loads((out / "compare.json").read_text())
    assert [m["label"] for m in result["metadata"]["methods"]] == ["reptile", "dagan"]
    assert [m["low_data_budget"] for m in result["metadata"]["methods"]] == [2, 0]
    between = {(r["stage"], r["metric"]) for r in result["records"]
               if r["kind"] == "paired" and (r["method"], r["baseline"]) == ("reptile", "dagan")}
    assert ("generation", "recognisability") in between and ("low_data", "low_data_k1") in between
    assert any(stage == "classification" for stage, _ in between)
    # each method's images, and half of them beside half augmentation's, against augmentation
    # and (the half-and-half rows) against each other
    low_data = {(r["method"], r["baseline"]) for r in result["records"]
                if r["kind"] == "paired" and r["metric"] == "low_data_k1"}
    half = "half {}, half traditional augmentation"
    assert {("reptile", "traditional augmentation"), ("dagan", "traditional augmentation"),
            (half.format("reptile"), "traditional augmentation"),
            (half.format("reptile"), half.format("dagan"))} <= low_data
    assert [m["sample_temperature"] for m in result["metadata"]["methods"]] == [1.0, 1.5]
    report = (out / "compare.md").read_text()
    assert (out / "plane.png").is_file() and "Paired verdicts" in report
    assert "| 2 steps | N(0, 1^2) |" in report and "| 0 steps | N(0, 1.5^2) |" in report
    assert f"| {half.format('dagan')} | " in report and "minus augmentation" in report
    assert f"- {half.format('reptile')} minus {half.format('dagan')}, k = 1: " in report

    # on the validation classes (to choose between them): class 6 in place of the held-out ones
    metagan("compare", f"runs=[{run},runs/dagan]", "eval.classes=validation", "eval.episodes=1", "eval.samples=8",
            "eval.budgets=[0]", "eval.chunk=2", "eval.real_images=40", "eval.evaluator_steps=30",
            "eval.grid_classes=0", "eval.classification.ways=[2]", "eval.low_data.ks=[]",
            "hydra.run.dir=runs/compare_validation", cwd=work)
    validation = json.loads((work / "runs" / "compare_validation" / "compare.json").read_text())["metadata"]
    assert validation["classes_measured"] == "validation" and validation["held_out_classes"] == ["6"]
    assert result["metadata"]["classes_measured"] == "held_out" and "6" not in result["metadata"]["held_out_classes"]
    assert "Measured on the validation classes" in (work / "runs" / "compare_validation" / "compare.md").read_text()

    # docs/results.md's table from this compare.json: one row per method at its own budget
    table = subprocess.run([sys.executable, str(REPO / "scripts" / "results_table.py"), "--table", str(work)],
                           capture_output=True, text=True, check=True).stdout.splitlines()
    rows = {line.split(" | ")[0].lstrip("| "): line.split(" | ") for line in table if line.startswith("| ")}
    assert [rows["reptile"][1], rows["dagan"][1]] == ["2", "0"]
    assert all(cell != "-" for cell in rows["dagan"][2:]), rows["dagan"]     # gain, accuracy, generation
    assert "traditional augmentation" in rows


@pytest.mark.slow
@SHARES_TRAINED_RUN
def test_rerun_into_the_same_dir_resumes(trained):
    work, run = trained
    shutil.copytree(run, work / "runs" / "resume")
    out = metagan("meta-train", *TINY[:-4], "train.steps=6", "train.log_every=2",
                  "train.sample_every=2", "train.checkpoint_every=2", "hydra.run.dir=runs/resume", cwd=work)
    assert "resuming from the checkpoint at step 4" in out.stderr + out.stdout
    steps = [json.loads(l)["step"] for l in (work / "runs" / "resume" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [2, 4, 6]
    again = metagan("meta-train", *TINY[:-4], "train.steps=6", "train.log_every=2",    # finished:
                    "train.sample_every=2", "train.checkpoint_every=2", "hydra.run.dir=runs/resume", cwd=work)
    assert "compil" not in again.stderr + again.stdout                                  # nothing to compile
    assert len((work / "runs" / "resume" / "metrics.jsonl").read_text().splitlines()) == 3
    clash = metagan("meta-train", *TINY, "seed=5", "hydra.run.dir=runs/resume", cwd=work, check=False)
    assert clash.returncode == 2 and "different config" in clash.stderr


@pytest.mark.slow
@pytest.mark.parametrize("algo", [["algo=fomaml", "algo.outer_objective=dawson"],
                                  ["algo=maml", "algo.learn_inner_lr=true"],
                                  ["algo=scratch"], ["algo=pretrain"]], ids=lambda a: a[0])
def test_every_algorithm_meta_trains_and_adapts(tmp_path, algo):
    metagan("meta-train", *TINY, *algo, "hydra.run.dir=run", cwd=tmp_path)
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["config"]["algo"]["name"] == algo[0].split("=")[1]
    trained = algo[0] != "algo=scratch"
    last = "4" if trained else "0"
    assert (tmp_path / "run" / "checkpoints" / last).is_dir()
    if trained:
        records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
        assert all(np.isfinite(r["d_loss"]) and np.isfinite(r["g_loss"]) for r in records)
    metagan("adapt", "checkpoint=run", "class=8", "hydra.run.dir=adapted", cwd=tmp_path)
    adapted = json.loads((tmp_path / "adapted" / "run.json").read_text())["adaptation"]
    assert adapted["adapt_steps"] == 2 and np.isfinite(adapted["final_g_loss"])


@pytest.mark.slow
def test_a_conditioned_generator_adapts_to_shots_and_samples_from_them(tmp_path):
    metagan("meta-train", *TINY, "model=conditioned", "hydra.run.dir=run", cwd=tmp_path)
    assert (tmp_path / "run" / "samples" / "step_000004.png").is_file()
    refused = metagan("sample", "checkpoint=run", "hydra.run.dir=s0", cwd=tmp_path, check=False)
    assert refused.returncode == 2 and "adapt it first" in refused.stderr
    assert "Traceback" not in refused.stderr
    # no fine-tuning: the shots alone condition G, and the adapt dir keeps them for sample
    metagan("adapt", "checkpoint=run", "class=8", "adapt.steps=0", "hydra.run.dir=adapted", cwd=tmp_path)
    metagan("sample", "checkpoint=adapted", "n=6", "hydra.run.dir=s1", cwd=tmp_path)
    assert np.load(tmp_path / "s1" / "samples.npz")["images"].shape == (6, 8, 8, 1)


@pytest.mark.parametrize("args, message", [
    (["frobnicate"], "unknown command 'frobnicate'"),
    (["meta-train", "no_such_key=1"], "no_such_key"),
    (["meta-train", "train.steps=abc"], "train.steps must be an integer"),
    (["meta-train", "task=no_such_task"], "no_such_task"),
    (["meta-train", "model.image_size=12", "task.image_size=12"], "power of two"),
    (["meta-train", "algo=nope"], "nope"),
    (["meta-train", "algo=dagan", "model=dcgan"], "algo=dagan trains model=dagan only"),
    (["meta-train", "algo=reptile", "algo.learn_inner_lr=true"], "needs a second-order algorithm (maml)"),
    (["meta-train", "algo=fomaml", "algo.outer_objective=x"], "algo.outer_objective must be one of"),
    (["meta-train", "distributed.cpu_devices=0"], "distributed.cpu_devices must be auto or a positive integer"),
    (["meta-train", "algo.meta_batch=3", "distributed.cpu_devices=2"], "does not split over 2 devices"),
    (["adapt"], "checkpoint= is required"),
    (["adapt", "checkpoint=does/not/exist", "class=8"], "no such run dir"),
    (["sample", "checkpoint=."], "not a metagan run dir"),
    (["sample", "checkpoint=.", "temperature=0"], "temperature must be > 0"),
    (["eval", "checkpoint=.", "eval.classes=test"], "eval.classes must be one of held_out, validation"),
    (["compare", "runs=[a,b]", "eval.low_data.choose_budget=[0,1]"], "eval.low_data.choose_budget is metagan eval's"),
])
def test_user_mistakes_get_one_line_and_exit_2(tmp_path, args, message):
    result = metagan(*args, cwd=tmp_path, check=False)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0] and "Traceback" not in result.stderr


SHARED = Path(__file__).resolve().parents[2] / "shared"
OMNIGLOT_ROOT = SHARED / "omniglot_small1"
OMNIGLOT_SMALL = OMNIGLOT_ROOT / "images_background_small1"
MNIST_DIR = Path(os.environ.get("TFDS_DATA_DIR") or SHARED / "tfds")


@pytest.mark.slow
@pytest.mark.skipif(not OMNIGLOT_SMALL.is_dir(), reason=f"no Omniglot images in {OMNIGLOT_SMALL}")
def test_folder_task_on_omniglot_meta_trains_and_adapts_by_class_name(tmp_path):
    metagan("meta-train", "task=folder", f"data.path={OMNIGLOT_SMALL}", "task.holdout_group=Greek",
            f"data.cache_dir={tmp_path / 'cache'}", *TINY, "train.steps=2", "hydra.run.dir=run", cwd=tmp_path)
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    held_out = [info["class_names"][c] for c in info["config"]["task"]["test_classes"]]
    assert len(held_out) == 24 and all(n.startswith("Greek/") for n in held_out)
    metagan("adapt", "checkpoint=run", "class=Greek/character05", "hydra.run.dir=adapted", cwd=tmp_path)
    assert json.loads((tmp_path / "adapted" / "run.json").read_text())["adaptation"]["class"] == \
        info["class_names"].index("Greek/character05")


@pytest.mark.slow
@pytest.mark.skipif(not OMNIGLOT_SMALL.is_dir(), reason=f"no Omniglot images in {OMNIGLOT_SMALL}")
def test_omniglot_with_a_nested_alphabet_group(tmp_path):
    # data.path is the dataset's root: the alphabet is a folder two levels down
    # (first-order MAML: second order through the CLI is test_every_algorithm_meta_trains_and_adapts')
    metagan("meta-train", "task=folder", f"data.path={OMNIGLOT_ROOT}", "task.holdout_group=Latin",
            "algo=fomaml", f"data.cache_dir={tmp_path / 'cache'}", *TINY, "train.steps=2",
            "hydra.run.dir=run", cwd=tmp_path)
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    held_out = [info["class_names"][c] for c in info["config"]["task"]["test_classes"]]
    assert held_out and all("/Latin/" in n for n in held_out)
    metagan("adapt", "checkpoint=run", f"class={held_out[0]}", "hydra.run.dir=adapted", cwd=tmp_path)
    wrong = metagan("meta-train", "task=folder", f"data.path={OMNIGLOT_ROOT}", "task.holdout_group=Klingon",
                    f"data.cache_dir={tmp_path / 'cache'}", *TINY, "hydra.run.dir=run2", cwd=tmp_path,
                    check=False)
    assert wrong.returncode == 2 and "groups: Balinese, Early_Aramaic, Greek, Korean, Latin" in wrong.stderr


@pytest.mark.slow
@pytest.mark.skipif(not (MNIST_DIR / "mnist").is_dir(), reason=f"no prepared TFDS mnist in {MNIST_DIR}")
def test_fewshot_mnist_meta_trains_from_the_tfds_data_dir(tmp_path):
    env_dir = f"data.data_dir={MNIST_DIR}"
    metagan("meta-train", "task=fewshot_mnist", env_dir, f"data.cache_dir={tmp_path / 'cache'}",
            *TINY, "train.steps=2", "hydra.run.dir=run", cwd=tmp_path)
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["config"]["task"]["test_classes"] == [7, 8, 9]
    assert (tmp_path / "run" / "samples" / "step_000002.png").is_file()


@pytest.mark.parametrize("args, message", [
    (["meta-train", "task=folder"], "task=folder needs data.path=DIR"),
    (["meta-train", "task=folder", "data.path=nowhere"], "data.path=nowhere: no such folder"),
    (["meta-train", "task=fewshot_mnist", "data.data_dir=empty_dir"], "tfds build mnist"),
    (["meta-train", "task.split=no_such_split"], "no such split file"),
])
def test_data_mistakes_get_one_line_and_exit_2(tmp_path, args, message):
    (tmp_path / "empty_dir").mkdir()
    result = metagan(*args, "data.cache_dir=off", cwd=tmp_path, check=False)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_bare_metagan_lists_the_commands(tmp_path):
    out = metagan(cwd=tmp_path).stdout
    for command in ("meta-train", "adapt", "sample", "eval"):
        assert command in out


def test_help_and_cfg_job_work(tmp_path):
    help_text = metagan("meta-train", "--help", cwd=tmp_path).stdout
    assert "task: fewshot_digits" in help_text and "algo: dagan, fomaml, maml, pretrain, reptile, scratch" in help_text
    assert "algo.inner_steps" in help_text and "inner GAN steps per task" in help_text
    job = metagan("meta-train", "--cfg", "job", "algo.inner_steps=7", cwd=tmp_path).stdout
    assert "inner_steps: 7" in job


def test_a_bad_cache_threshold_gets_one_line_and_exit_2(tmp_path):
    env = {**os.environ, "METAGAN_COMPILATION_CACHE_MIN_SECONDS": "soon"}
    result = subprocess.run([sys.executable, "-m", "metagan_cli", "meta-train", "train.steps=1"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "metagan meta-train: error: METAGAN_COMPILATION_CACHE_MIN_SECONDS must be a number of "
        "seconds; got 'soon'"]

"""The sample-quality ablation: each lever on and off, measured against the five
targets of docs/quality.md with `metagan eval`.

For each row (a name and its `metagan meta-train` overrides) the script meta-trains
``--seeds`` runs into ``<out>/<task>/<row>/`` (a sweep dir), evaluates them together
(records per seed and over seeds), and reads the targets off ``eval.json`` into one
JSON line per row; ``--table`` prints the JSON lines as the markdown table of
docs/quality.md.  Rerunning skips what is already there (meta-train resumes, eval is
rerun only when its ``eval.json`` is missing).

  python scripts/quality_ablation.py --task digits --rows baseline,diffaugment --seeds 0,1,2
  python scripts/quality_ablation.py --table runs/quality/digits/ablation.jsonl
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from metagan_cli.evaluation.protocol import AUGMENTED, STANDARD, augmented_row, mixed_row

OMNIGLOT_SMALL1 = ["task=folder", "data.path=../shared/omniglot_small1/images_background_small1"]
TASKS = {
    "digits": ["task=fewshot_digits"],
    # the generality checks: splits no setting was chosen on
    "digits_split2": ["task=fewshot_digits", "task.train_classes=[3,4,5,6,7,8]",
                      "task.validation_classes=[9]", "task.test_classes=[0,1,2]"],
    "mnist": ["task=fewshot_mnist"],
    "omniglot": [*OMNIGLOT_SMALL1, "task.holdout_group=Greek"],
    "omniglot_latin": [*OMNIGLOT_SMALL1, "task.holdout_group=Latin"],
}
ROWS = {
    "baseline": [],
    "diffaugment": ["augment=diffaugment"],
    "glyph_augment": ["augment=glyphs"],
    "freeze_d": ["algo.freeze_d=1"],
    "adapt_g_norm": ["algo.adapt_g=norm"],
    "mode_seeking": ["gan_loss.mode_seeking=1.0"],
    "diffaugment_freeze_d": ["augment=diffaugment", "algo.freeze_d=1"],
    "all": ["augment=diffaugment", "algo.freeze_d=1", "gan_loss.mode_seeking=1.0"],
    "conditioned": ["model=conditioned"],
    "conditioned_diffaugment": ["model=conditioned", "augment=diffaugment"],
    "conditioned_mode_seeking": ["model=conditioned", "gan_loss.mode_seeking=1.0"],
    "conditioned_mode_seeking_adapt_g_norm": ["model=conditioned", "gan_loss.mode_seeking=1.0", "algo.adapt_g=norm"],
    # DAGAN's pair: trained without meta-learning (algo=dagan), and meta-trained by Reptile
    "dagan": ["algo=dagan"],
    "dagan_model": ["model=dagan"],
    # a generator that deforms its shot (model=warp), meta-trained by Reptile
    "warp": ["model=warp"],
    "warp_mode_seeking": ["model=warp", "gan_loss.mode_seeking=1.0"],
    "warp_adapt_g_norm": ["model=warp", "algo.adapt_g=norm"],   # the Omniglot and MNIST presets' adaptation
    "fomaml_conditioned_mode_seeking": ["algo=fomaml", "model=conditioned", "gan_loss.mode_seeking=1.0"],
    "fomaml_conditioned_mode_seeking_mmd": ["algo=fomaml", "model=conditioned", "gan_loss.mode_seeking=1.0",
                                            "algo.outer_mmd=4.0"],
}
# Rows whose pretrain baseline trains exactly as another row's (pretraining ignores the
# levers that act only where a GAN adapts, and the meta-learning algorithm): their pretrain
# baselines are the named row's, bit for bit, so they are read from its eval dir
# (eval.baselines.pretrain matched by seed) instead of trained again (12 of a row's 15 eval minutes).
# (The pretrain baseline takes the row's model, loss and augmentation, not its algorithm;
# tests/test_quality_ablation.py checks that each pair's pretrain configs agree.)
SAME_PRETRAIN_AS = {"freeze_d": "baseline", "adapt_g_norm": "baseline", "warp_adapt_g_norm": "warp",
                    "conditioned_mode_seeking_adapt_g_norm": "conditioned_mode_seeking",
                    "fomaml_conditioned_mode_seeking": "conditioned_mode_seeking",
                    "fomaml_conditioned_mode_seeking_mmd": "conditioned_mode_seeking"}
BUDGETS = (0, 1, 5, 10, 50, 100)


def metagan(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "metagan_cli", *args], check=True)


def run_row(task: str, row: str, seeds: str, steps: int, out: Path, eval_args: list[str]) -> dict:
    where = out / task / row
    t0 = time.perf_counter()
    metagan("meta-train", "-m", *TASKS[task], *ROWS[row], f"seed={seeds}", f"train.steps={steps}",
            f"hydra.sweep.dir={where / 'runs'}")
    train_s = time.perf_counter() - t0
    if not (where / "eval" / "eval.json").exists():
        shared = out / task / SAME_PRETRAIN_AS.get(row, row) / "eval"
        if shared != where / "eval" and (shared / "eval.json").exists():
            eval_args = [*eval_args, f"eval.baselines.pretrain={shared}"]
        metagan("eval", f"checkpoint={where / 'runs'}", *eval_args, f"hydra.run.dir={where / 'eval'}")
    result = json.loads((where / "eval" / "eval.json").read_text())
    return {"task": task, "row": row, "overrides": ROWS[row], "seeds": seeds, "train_steps": steps,
            "eval": str(where / "eval" / "eval.json"),
            "wall_s_this_call": round(time.perf_counter() - t0, 1), "train_s_this_call": round(train_s, 1),
            **targets(result)}


def targets(result: dict) -> dict:
    """The five targets' figures from one eval.json (over seeds when there are several)."""
    records, meta = result["records"], result["metadata"]
    run = meta["over_seeds"] or "seed 0"
    mine = meta["evaluated_method"]
    rec = [r for r in records if r["run"] == run and r["class"] in ("all held-out",)]

    def value(stage, metric, steps=None, method=mine):
        for r in rec:
            if (r["kind"], r["stage"], r["metric"], r["method"]) == ("value", stage, metric, method) \
                    and (steps is None or r["adapt_steps"] == steps):
                return [r["value"], r["ci95"], r["n"]]
        return None

    def paired(stage, metric, baseline, steps=None, method=mine):
        for r in rec:
            if (r["kind"], r["stage"], r["metric"], r["method"], r.get("baseline")) == \
                    ("paired", stage, metric, method, baseline) and (steps is None or r["adapt_steps"] == steps):
                return [r["difference"], r["ci95"], r["n"], r["verdict"]]
        return None

    classification = [r for r in rec if r["kind"] == "paired" and r["stage"] == "classification"
                      and r["method"] == mine and r["baseline"] == "real shots only"]
    return {
        "low_data_k5_gain": paired("low_data", "low_data_k5", STANDARD),
        "augmentation_k5_gain": paired("low_data", "low_data_k5", STANDARD, method=AUGMENTED),
        # target 1's "above traditional augmentation": the evaluated method, alone, with its
        # images traditionally augmented (eval.low_data.augment_generated) and half and half
        # with augmentation (eval.low_data.mix_augmented), minus augmentation
        "k5_minus_augmentation": paired("low_data", "low_data_k5", AUGMENTED),
        "augmented_k5_minus_augmentation": paired("low_data", "low_data_k5", AUGMENTED,
                                                  method=augmented_row(mine)),
        "mixed_k5_minus_augmentation": paired("low_data", "low_data_k5", AUGMENTED, method=mixed_row(mine)),
        "classification_vs_real_only": [[r["metric"], r["adapt_steps"], r["difference"], r["ci95"], r["verdict"]]
                                        for r in classification],
        "recognisability": {b: value("generation", "recognisability", b) for b in BUDGETS},
        "memorisation": {b: value("generation", "memorisation", b) for b in BUDGETS},
        "diversity": {b: value("generation", "diversity", b) for b in BUDGETS},
        "kid": {b: value("generation", "kid", b) for b in BUDGETS},
        "kid_vs_scratch": {b: paired("generation", "kid", "scratch", b) for b in BUDGETS},
        "kid_vs_pretrain": {b: paired("generation", "kid", "pretrain + fine-tune", b) for b in BUDGETS},
    }


def fmt(x, digits=2) -> str:
    """[value, ci95, n] -> "v ± ci"; a paired [difference, ci95, n, verdict] -> "+d ± ci (verdict)"."""
    if not x:
        return "-"
    if len(x) > 3:
        verdict = {"better": ", better", "worse": ", worse"}.get(x[3], "")
        return f"{x[0]:+.{digits}f} ± {x[1]:.{digits}f}{verdict}"
    return f"{x[0]:.{digits}f} ± {x[1]:.{digits}f}"


def at(by_budget: dict, budget: int):
    return by_budget.get(str(budget)) or by_budget.get(budget)


def markdown(rows: list[dict]) -> str:
    """The targets' table (each row's figures re-read from its eval.json)."""
    head = ("| task | row | low-data k=5 gain over Standard (points) | N-way accuracy with generated images "
            "minus real only | recognisability @0 / @10 | memorisation @10 | diversity @0 / @10 / @100 | "
            "KID @0 / @10 | KID minus pretrain + fine-tune @10 / @100 | KID minus scratch @10 / @100 |")
    lines = [head, "|" + " --- |" * 10]
    for r in rows:
        r = {**r, **targets(json.loads(Path(r["eval"]).read_text()))} if Path(r.get("eval", "")).is_file() else r
        cls = "; ".join(f"{m.replace('accuracy_all_', '')} @{s}: {d:+.3f} ± {c:.3f}"
                        for m, s, d, c, _ in r["classification_vs_real_only"])
        two = lambda key, budgets, digits=2: " / ".join(fmt(at(r[key], b), digits) for b in budgets)
        lines.append(f"| {r['task']} | {r['row']} | {fmt(r['low_data_k5_gain'], 1)} | {cls or '-'} | "
                     f"{two('recognisability', (0, 10))} | {fmt(at(r['memorisation'], 10))} | "
                     f"{two('diversity', (0, 10, 100))} | {two('kid', (0, 10), 3)} | "
                     f"{two('kid_vs_pretrain', (10, 100), 3)} | {two('kid_vs_scratch', (10, 100), 3)} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", choices=TASKS, default="digits")
    ap.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated, of: {', '.join(ROWS)}")
    ap.add_argument("--seeds", default="0,1,2", help="meta-training seeds (a Hydra sweep)")
    ap.add_argument("--steps", type=int, default=2000, help="meta-training steps")
    ap.add_argument("--out", default="runs/quality", help="where runs, evals and ablation.jsonl go")
    ap.add_argument("--eval-args", default="", help="extra `metagan eval` overrides, space-separated")
    ap.add_argument("--table", metavar="JSONL", help="print an ablation.jsonl as a markdown table")
    ap.add_argument("--rescore", metavar="JSONL", help="rewrite an ablation.jsonl's figures from its rows' eval.json")
    a = ap.parse_args(argv)
    if a.rescore:
        rows = [json.loads(line) for line in Path(a.rescore).read_text().splitlines()]
        rows = [{**r, **targets(json.loads(Path(r["eval"]).read_text()))} for r in rows]
        Path(a.rescore).write_text("".join(json.dumps(r) + "\n" for r in rows))
        return
    if a.table:
        print(markdown([json.loads(line) for line in Path(a.table).read_text().splitlines()]))
        return
    unknown = [r for r in a.rows.split(",") if r not in ROWS]
    if unknown:
        sys.exit(f"quality_ablation.py: unknown row {unknown[0]!r}; rows: {', '.join(ROWS)}")
    out = Path(a.out)
    log = out / a.task / "ablation.jsonl"
    log.parent.mkdir(parents=True, exist_ok=True)
    for row in a.rows.split(","):
        rec = run_row(a.task, row, a.seeds, a.steps, out, a.eval_args.split())
        with log.open("a") as f:
            f.write(json.dumps(rec) + "\n")
        print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main()

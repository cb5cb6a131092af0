"""docs/results.md's table: every method beside its peers, on Omniglot (Greek held out)
and fewshot_mnist, measured together by `metagan compare`.

For each task the script meta-trains every method's seeds as one sweep
(`metagan meta-train -m TASK METHOD seed=0,1,2 train.steps=N` into
``<out>/<task>/<method>/``), then compares them all in one `metagan compare` (the same
support sets, episodes, classifier seeds and evaluator for every method, paired between
every pair) into ``<out>/<task>/compare/``, and prints the table of docs/results.md.
Rerunning skips what is done (meta-train resumes; compare reruns only without its
compare.json).  One JSON line per method and task (wall times included) goes to
``<out>/results.jsonl``.

  python scripts/results_table.py                         # the whole table
  python scripts/results_table.py --tasks omniglot --steps 300 --methods reptile,dagan,pretrain
  python scripts/results_table.py --table runs/results    # the markdown of what is done
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

TASKS = {
    "omniglot": ["task=folder", "data.path=../shared/omniglot_small1/images_background_small1",
                 "task.holdout_group=Greek"],
    "mnist": ["task=fewshot_mnist"],
}
# name -> (label in the table, meta-train overrides)
METHODS = {
    "scratch": ("scratch", ["algo=scratch"]),
    "reptile": ("Reptile (FIGR)", []),
    "fomaml": ("FOMAML", ["algo=fomaml"]),
    "dawson": ("DAWSON", ["algo=fomaml", "algo.outer_objective=dawson"]),
    "maml": ("MAML (second order)", ["algo=maml"]),
    # the candidate of docs/quality.md (no lever became a default)
    "quality_best": ("Reptile, conditioned + mode-seeking + norm-only", [
        "model=conditioned", "gan_loss.mode_seeking=1.0", "algo.adapt_g=norm"]),
    "pretrain": ("pretrain + fine-tune", ["algo=pretrain"]),
    "dagan": ("DAGAN", ["algo=dagan"]),
}


def metagan(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "metagan_cli", *args], check=True)


def run_task(task: str, methods: list[str], seeds: str, steps: int, out: Path, eval_args: list[str]) -> list:
    lines = []
    for name in methods:
        label, overrides = METHODS[name]
        t0 = time.perf_counter()
        metagan("meta-train", "-m", *TASKS[task], *overrides, f"seed={seeds}", f"train.steps={steps}",
                f"hydra.sweep.dir={out / task / name}")
        lines.append({"task": task, "method": name, "label": label, "overrides": overrides, "seeds": seeds,
                      "train_steps": steps, "train_s_this_call": round(time.perf_counter() - t0, 1)})
    where = out / task / "compare"
    t0 = time.perf_counter()
    if not (where / "compare.json").exists():
        runs = ",".join(str(out / task / name) for name in methods)
        labels = ",".join(f"'{METHODS[name][0]}'" for name in methods)
        metagan("compare", f"runs=[{runs}]", f"labels=[{labels}]", *eval_args, f"hydra.run.dir={where}")
    for line in lines:
        line["compare_s_this_call"] = round(time.perf_counter() - t0, 1)
    return lines


def _fmt(r, digits=2) -> str:
    if r is None:
        return "-"
    if r["kind"] == "paired":
        word = {"better": ", better", "worse": ", worse"}.get(r.get("verdict"), "")
        return f"{r['difference']:+.{digits}f} ± {r['ci95']:.{digits}f}{word}" if r["ci95"] is not None \
            else f"{r['difference']:+.{digits}f}"
    return f"{r['value']:.{digits}f} ± {r['ci95']:.{digits}f}" if r["ci95"] is not None else f"{r['value']:.{digits}f}"


def markdown(compare_json: Path) -> str:
    """One task's table from its compare.json: per method, at its low-data budget."""
    from metagan_cli.evaluation.protocol import AUGMENTED, REAL_ONLY, STANDARD
    from metagan_cli.evaluation.compare_report import headline
    from metagan_cli.evaluation.report import paired_records, value_records

    result = json.loads(compare_json.read_text())
    meta, records = result["metadata"], result["records"]
    run = headline(meta)
    values, paired = value_records(records, run), paired_records(records, run)
    ks = meta["low_data"]["ks"]
    k = 5 if 5 in ks else (ks[0] if ks else None)
    lines = [f"| method | steps | low-data k={k}: gain over Standard (points) | N-way accuracy with generated "
             f"minus real only | recognisability | diversity | KID |", "|" + " --- |" * 7]
    for m in meta["methods"]:
        label, steps = m["label"], m["low_data_budget"]
        gain = paired.get((label, STANDARD, f"low_data_k{k}", None))
        cls = [(metric, r) for (method, base, metric, budget), r in paired.items()
               if r["stage"] == "classification" and (method, base, budget) == (label, REAL_ONLY, steps)]
        generation = [_fmt(values.get((label, metric, steps)), 3 if metric == "kid" else 2)
                      for metric in ("recognisability", "diversity", "kid")]
        accuracy = "; ".join(f"{metric.replace('accuracy_', '')}: {_fmt(r, 3)}" for metric, r in cls) or "-"
        lines.append(f"| {label} | {steps} | {_fmt(gain, 1)} | {accuracy} | " + " | ".join(generation) + " |")
    aug = paired.get((AUGMENTED, STANDARD, f"low_data_k{k}", None))
    if aug:
        lines.append(f"| {AUGMENTED} | - | {_fmt(aug, 1)} | - | - | - | - |")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", default=",".join(TASKS), help=f"comma-separated, of: {', '.join(TASKS)}")
    ap.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated, of: {', '.join(METHODS)}")
    ap.add_argument("--seeds", default="0,1,2", help="meta-training seeds (a Hydra sweep)")
    ap.add_argument("--steps", type=int, default=2000, help="meta-training steps of every method")
    ap.add_argument("--out", default="runs/results", help="where runs, comparisons and results.jsonl go")
    ap.add_argument("--eval-args", default="", help="extra `metagan compare` overrides, space-separated")
    ap.add_argument("--table", metavar="OUT", help="print the markdown tables of the comparisons under OUT")
    a = ap.parse_args(argv)
    if a.table:
        for path in sorted(Path(a.table).glob("*/compare/compare.json")):
            print(f"### {path.parent.parent.name}\n\n{markdown(path)}\n")
        return
    for key, given, known in (("task", a.tasks, TASKS), ("method", a.methods, METHODS)):
        unknown = [x for x in given.split(",") if x not in known]
        if unknown:
            sys.exit(f"results_table.py: unknown {key} {unknown[0]!r}; choose from {', '.join(known)}")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    for task in a.tasks.split(","):
        lines = run_task(task, a.methods.split(","), a.seeds, a.steps, out, a.eval_args.split())
        with (out / "results.jsonl").open("a") as f:
            f.writelines(json.dumps(line) + "\n" for line in lines)
        print(f"### {task}\n\n{markdown(out / task / 'compare' / 'compare.json')}\n", flush=True)


if __name__ == "__main__":
    main()

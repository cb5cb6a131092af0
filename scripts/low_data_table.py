"""The low-data protocol's rows of several evals side by side.

Reads eval dirs, or sweep dirs of them (``metagan eval -m ... eval.low_data.generated=50,100,200``),
and prints one line per eval, k and row: the classifier's accuracy, the row's gain over
Standard and its difference from traditional augmentation (paired, in points, with the
eval's 95% intervals; over meta-training seeds when the eval has several), beside the
added count M, the evaluated run's sampling temperature and which classes were measured.
It only reads what the evals recorded: a choice made from it on ``eval.classes=validation``
evals touches no held-out class.

  python scripts/low_data_table.py runs/quality/omniglot/warp_preset/count_validation --json out.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from metagan_cli.evaluation.protocol import AUGMENTED, STANDARD


def eval_files(paths: list[Path]) -> list[Path]:
    files = []
    for path in paths:
        found = [path / "eval.json"] if (path / "eval.json").exists() else sorted(path.glob("*/eval.json"))
        if not found:
            sys.exit(f"{path}: no eval.json, nor */eval.json (an eval dir or a sweep dir of evals)")
        files += found
    return files


def rows_of(path: Path) -> list[dict]:
    """One dict per (k, row) of the eval at ``path``: the over-seeds figures if it has them."""
    result = json.loads(path.read_text())
    meta = result["metadata"]
    run = meta["over_seeds"] or "seed"
    records = [r for r in result["records"] if r["stage"] == "low_data" and r["run"].startswith(run)
               and r["class"] == "all held-out"]
    out = []
    for value in (r for r in records if r["kind"] == "value"):
        row = {"eval": str(path.parent), "classes": meta["classes_measured"],
               "generated": meta["low_data"]["generated"], "temperature": meta["evaluated_sample_temperature"],
               "k": int(value["metric"].removeprefix("low_data_k")), "row": value["method"],
               "accuracy": [value["value"], value["ci95"], value["n"]]}
        for baseline, name in ((STANDARD, "minus_standard"), (AUGMENTED, "minus_augmentation")):
            paired = [r for r in records if r["kind"] == "paired" and r["metric"] == value["metric"]
                      and r["method"] == value["method"] and r["baseline"] == baseline]
            if paired:
                row[name] = [paired[0]["difference"], paired[0]["ci95"], paired[0]["n"], paired[0]["p_value"]]
        out.append(row)
    return out


def interval(figure) -> str:
    return "" if figure is None else f"{figure[0]:+.1f} ± {figure[1]:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("evals", nargs="+", type=Path, help="eval dirs, or sweep dirs of evals")
    parser.add_argument("--json", type=Path, help="write every row here")
    args = parser.parse_args()
    rows = [row for path in eval_files(args.evals) for row in rows_of(path)]
    print("| classes | M | T | k | row | accuracy | minus Standard | minus augmentation |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in sorted(rows, key=lambda r: (r["eval"], r["k"])):
        print(f"| {r['classes']} | {r['generated']} | {r['temperature']:g} | {r['k']} | {r['row']} | "
              f"{r['accuracy'][0]:.1f} ± {r['accuracy'][1]:.1f} | {interval(r.get('minus_standard'))} | "
              f"{interval(r.get('minus_augmentation'))} |")
    if args.json:
        args.json.write_text(json.dumps({"evals": [str(p) for p in args.evals], "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()

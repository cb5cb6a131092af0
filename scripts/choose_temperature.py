"""Choose the sampling temperature (``algo.sample_temperature``) on validation classes.

Reads the evals of one or more sweeps over ``temperature=`` measured on the validation
classes (``metagan eval -m checkpoint=SWEEP_OF_SEEDS eval.classes=validation
temperature=1.0,1.25,1.5 ...``, one sweep per split), prints, per temperature, what it
trades (the over-seeds means of memorisation and diversity, which rise with it, and of
recognisability, KID, the low-data gains and the N-way difference, which it may cost),
and applies the rule: among the temperatures whose memorisation, averaged over the
sweeps, reaches ``--memorisation`` at every budget measured while the diversity ratio
stays within ``--diversity``, the one whose added images give the highest low-data gain
over Standard (what the images are for; without low-data records, the smallest).  The
held-out classes play no part.

  python scripts/choose_temperature.py runs/quality/omniglot/warp_1500_norm/temperature_validation \\
      runs/quality/omniglot_latin/warp_1500_norm/temperature_validation --json out.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from metagan_cli.evaluation.protocol import STANDARD


def read_sweep(sweep: Path) -> dict[float, dict]:
    """{temperature: the over-seeds figures of the evaluated method} of one sweep dir."""
    out = {}
    for path in sorted(sweep.glob("*/eval.json")):
        result = json.loads(path.read_text())
        meta = result["metadata"]
        if meta.get("classes_measured") != "validation":
            sys.exit(f"{path} measured the held-out classes: choose on eval.classes=validation only")
        run = meta["over_seeds"] or "seed"
        method = meta["evaluated_method"]
        rows = [r for r in result["records"] if r["run"].startswith(run) and r["class"] == "all held-out"]
        value = lambda r, metric, stage: (r["kind"] == "value" and r["method"] == method
                                          and r["metric"] == metric and r["stage"] == stage)
        figures = {"budgets": {}}
        for budget in meta["budgets"]:
            figures["budgets"][budget] = {
                m: next(r["value"] for r in rows if value(r, m, "generation") and r["adapt_steps"] == budget)
                for m in ("memorisation", "diversity", "recognisability", "kid")}
        for r in rows:
            if r["kind"] == "paired" and r["stage"] == "low_data" and r["method"] == method:
                figures[f"low_data minus {r['baseline']}"] = r["difference"]
            if r["kind"] == "paired" and r["stage"] == "classification" and r["method"] == method:
                figures[f"{r['metric']} minus {r['baseline']} @{r['adapt_steps']}"] = r["difference"]
        out[float(meta["evaluated_sample_temperature"])] = figures
    if not out:
        sys.exit(f"{sweep}: no */eval.json (a sweep dir of evals over temperature=)")
    return out


def choose(sweeps: dict[str, dict[float, dict]], memorisation: float, diversity: tuple[float, float]):
    """(the chosen temperature or None, {temperature: the figures averaged over sweeps})."""
    temperatures = sorted(set.intersection(*(set(s) for s in sweeps.values())))
    table = {}
    for t in temperatures:
        per = [s[t] for s in sweeps.values()]
        budgets = per[0]["budgets"]
        row = {f"{m} @{b}": float(np.mean([p["budgets"][b][m] for p in per]))
               for b in budgets for m in per[0]["budgets"][b]}
        row.update({k: float(np.mean([p[k] for p in per])) for k in per[0] if k != "budgets"})
        table[t] = row
    def meets(row: dict) -> bool:
        spread = [v for k, v in row.items() if k.startswith("diversity @")]
        kept = [v for k, v in row.items() if k.startswith("memorisation @")]
        return min(kept) >= memorisation and diversity[0] <= min(spread) and max(spread) <= diversity[1]

    gain = lambda t: table[t].get(f"low_data minus {STANDARD}", 0.0)
    candidates = [t for t in temperatures if meets(table[t])]
    return (max(candidates, key=lambda t: (gain(t), -t)) if candidates else None), table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweeps", nargs="+", type=Path, help="sweep dirs of evals over temperature=")
    parser.add_argument("--memorisation", type=float, default=0.8)
    parser.add_argument("--diversity", type=float, nargs=2, default=(0.7, 1.3))
    parser.add_argument("--json", type=Path, help="write the sweeps, the table and the choice here")
    args = parser.parse_args()
    sweeps = {str(s): read_sweep(s) for s in args.sweeps}
    chosen, table = choose(sweeps, args.memorisation, tuple(args.diversity))
    columns = list(next(iter(table.values())))
    print("| temperature | " + " | ".join(columns) + " |")
    print("| --- |" + " --- |" * len(columns))
    for t, row in table.items():
        print(f"| {t:g} | " + " | ".join(f"{row[c]:.3f}" for c in columns) + " |")
    print(f"chosen: {chosen}" if chosen is not None else
          "chosen: none (no temperature meets the rule; widen the grid)")
    if args.json:
        args.json.write_text(json.dumps({
            "rule": {"memorisation_at_least": args.memorisation, "diversity_within": list(args.diversity),
                     "averaged_over": [str(s) for s in args.sweeps]},
            "chosen": chosen, "table": {str(t): row for t, row in table.items()},
            "per_sweep": {name: {str(t): f for t, f in s.items()} for name, s in sweeps.items()}},
            indent=1) + "\n")


if __name__ == "__main__":
    main()

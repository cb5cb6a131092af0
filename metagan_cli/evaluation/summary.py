"""From measured values to the eval's records: means with t intervals, paired
differences against every baseline with Holm-adjusted p-values, and the same over
meta-training seeds.

Every record says what was replicated: ``n`` and ``over``.  Per run, generation
figures are replicated over support sets (units = held-out class x episode; the
held-out classes are fixed, so the interval is about this set of classes);
classification figures over classification episodes; low-data figures over classifier
seeds.  Over seeds, each run contributes one number (its mean), so ``n`` = the number
of meta-training seeds and the interval includes training variance.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from metagan_cli.evaluation import metrics as M
from metagan_cli.evaluation import statistics as S
from metagan_cli.evaluation.protocol import AUGMENTED, REAL_ONLY, STANDARD, augmented_row, mixed_row

ALPHA = 0.05
ALL = "all held-out"


def _round(x):
    return None if x is None or not np.isfinite(x) else round(float(x), 6)


def value_record(run, stage, method, metric, budget, values, over, cls=ALL, **extra) -> dict:
    iv = S.interval(values)
    return {"run": run, "stage": stage, "kind": "value", "method": method, "class": cls,
            "adapt_steps": budget, "metric": metric, "value": _round(iv.mean),
            "ci95": _round(iv.half_width), "n": iv.n, "over": over, **extra}


def compared_form(metric: str) -> tuple[str, object]:
    """What a paired difference compares for ``metric`` and the transform: the value
    itself (lower / higher is better), or its distance from the ideal."""
    m = M.describe(metric)
    if m.direction == "one":
        return "|value - 1|", lambda x: np.abs(np.asarray(x, np.float64) - 1.0)
    if m.direction == "up_to_one":
        return "max(1 - value, 0)", lambda x: np.maximum(1.0 - np.asarray(x, np.float64), 0.0)
    return "value", lambda x: np.asarray(x, np.float64)


def paired_record(run, stage, method, baseline, metric, budget, a, b, over, scale=1.0, **extra) -> dict:
    form, transform = compared_form(metric)
    p = S.paired(scale * transform(a), scale * transform(b))
    return {"run": run, "stage": stage, "kind": "paired", "method": method, "baseline": baseline,
            "class": ALL, "adapt_steps": budget, "metric": metric, "compared": form,
            "difference": _round(p.difference), "ci95": _round(p.half_width), "n": p.n,
            "p_value": _round(p.p_value), "over": over, "test": "paired t-test, two-sided", **extra}


def apply_holm(records: list) -> int:
    """Adds p_holm and a verdict to every paired record of one family; returns the
    family's size."""
    paired = [r for r in records if r["kind"] == "paired"]
    adjusted = S.holm([np.nan if r["p_value"] is None else r["p_value"] for r in paired])
    for r, p in zip(paired, adjusted):
        r["p_holm"] = _round(p)
        r["comparisons"] = int(np.isfinite(adjusted).sum())
        r["verdict"] = verdict(r)
    return int(np.isfinite(adjusted).sum())


def verdict(r: dict) -> str:
    """better / worse when the Holm-adjusted p < ALPHA, else "no clear difference"."""
    p, d = r.get("p_holm"), r["difference"]
    if p is None or d is None or p >= ALPHA:
        return "no clear difference"
    higher_better = M.describe(r["metric"]).direction == "higher"
    return "better" if (d > 0) == higher_better else "worse"


# ---- one run -------------------------------------------------------------------------

def low_data_row_pairs(labels: list, augmented: list, mixed: list) -> list:
    """The low-data rows compared beyond the methods' pairs: each method's images against
    traditional augmentation (the gain a generator has to beat), and with
    eval.low_data.augment_generated / mix_augmented each method's augmented-once and
    half-and-half rows against augmentation and against every other method's same row."""
    out = [(a, AUGMENTED) for a in labels]
    for row, named in ((augmented_row, augmented), (mixed_row, mixed)):
        out += [(row(a), AUGMENTED) for a in named]
        out += [(row(a), row(b)) for i, a in enumerate(named) for b in named[i + 1:]]
    return out


def run_records(run: str, measured, classification: dict, low_data: dict, evaluated: str,
                baselines: list, names, pairs: list | None = None) -> list:
    """Every record of one run (one family for Holm): each method's values, and paired
    differences for ``pairs`` of (method, baseline), by default the evaluated method
    against each baseline (and in the low-data protocol each row against Standard, and the
    evaluated method's rows (alone, traditionally augmented, half and half with augmentation)
    against traditional augmentation, the gain a generator has to beat; given ``pairs`` are
    compared there instead)."""
    low_data_pairs = low_data_row_pairs([evaluated], [evaluated], [evaluated]) if pairs is None else pairs
    pairs = [(evaluated, base) for base in baselines] if pairs is None else pairs
    recs = []
    units = measured.units
    classes = list(dict.fromkeys(c for c, _ in units))
    episodes = len(units) // max(len(classes), 1)
    for (method, budget, metric), values in measured.values.items():
        for c in classes:
            mask = np.asarray([u[0] == c for u in units])
            recs.append(value_record(run, "generation", method, metric, budget, values[mask],
                                     "support sets of this class (episodes)", cls=names[c]))
        recs.append(value_record(run, "generation", method, metric, budget, values,
                                 f"support sets ({len(classes)} held-out classes x {episodes} episodes)"))
    for (method, budget, metric), values in measured.values.items():
        for base in [b for a, b in pairs if a == method]:
            other = measured.values.get((base, budget, metric))
            if other is not None:
                recs.append(paired_record(run, "generation", method, base, metric, budget, values, other,
                                          "support sets (held-out class x episode), shared by both methods"))
    for label, got in classification.items():
        metric = f"accuracy_{label}"
        over = "classification episodes, each with its own classes, support and query sets"
        for (method, budget), acc in got["accuracy"].items():
            recs.append(value_record(run, "classification", method, metric, budget, acc, over, ways=got["ways"]))
        for (method, budget), acc in got["accuracy"].items():
            if method == REAL_ONLY:
                continue
            recs.append(paired_record(run, "classification", method, REAL_ONLY, metric, budget, acc,
                                      got["accuracy"][(REAL_ONLY, budget)], over, ways=got["ways"]))
            for base in [b for a, b in pairs if a == method]:
                if (base, budget) in got["accuracy"]:
                    recs.append(paired_record(run, "classification", method, base, metric, budget, acc,
                                              got["accuracy"][(base, budget)], over, ways=got["ways"]))
    recs += low_data_records(run, low_data, low_data_pairs)
    apply_holm(recs)
    return recs


def low_data_records(run: str, low_data: dict, pairs: list = ()) -> list:
    """Accuracy per row and k in percent, each row's gain over Standard in points, and
    the difference of each of ``pairs`` of rows (paired by classifier seed)."""
    recs = []
    over = "classifier seeds (trained from scratch)"
    for (k, row), acc in low_data.items():
        metric = f"low_data_k{k}"
        recs.append(value_record(run, "low_data", row, metric, None, 100 * acc, over, unit="percent"))
        standard = low_data.get((k, STANDARD))
        if row != STANDARD and standard is not None:
            recs.append(paired_record(run, "low_data", row, STANDARD, metric, None, acc, standard,
                                      over, scale=100.0, unit="points"))
        for base in [b for a, b in pairs if a == row and (k, b) in low_data]:
            recs.append(paired_record(run, "low_data", row, base, metric, None, acc, low_data[(k, base)],
                                      over, scale=100.0, unit="points"))
    return recs


# ---- several runs --------------------------------------------------------------------

def across_runs(run_label: str, per_run: list[list]) -> list:
    """Means over runs of each run's pooled figure, and paired differences over runs
    (each run's mean difference is one value); one Holm family.  A figure that is the
    same in every run (a method or comparison that does not depend on the meta-trained
    run: Standard, traditional augmentation, copy the shots) has no variance over runs;
    its record is the run's own, replicated over what varies within a run."""
    values, diffs = defaultdict(list), defaultdict(list)
    meta = {}
    for recs in per_run:
        for r in recs:
            if r["class"] != ALL:
                continue
            if r["kind"] == "value":
                key = (r["stage"], r["method"], r["metric"], r["adapt_steps"])
                values[key].append(np.nan if r["value"] is None else r["value"])
            else:
                key = (r["stage"], r["method"], r["baseline"], r["metric"], r["adapt_steps"])
                diffs[key].append(np.nan if r["difference"] is None else r["difference"])
            meta[key] = r
    out = []
    over = f"meta-training seeds (each run's mean is one value; {len(per_run)} runs)"
    for key, vals in values.items():
        if _same_in_every_run(vals, len(per_run)):
            out.append(_run_independent(meta[key], run_label))
            continue
        stage, method, metric, budget = key
        extra = {k: meta[key][k] for k in ("ways", "unit") if k in meta[key]}
        out.append(value_record(run_label, stage, method, metric, budget, vals, over, **extra))
    for key, ds in diffs.items():
        if _same_in_every_run(ds, len(per_run)):
            out.append(_run_independent(meta[key], run_label))
            continue
        stage, method, base, metric, budget = key
        r = meta[key]
        p = S.paired(ds, np.zeros(len(ds)))
        out.append({"run": run_label, "stage": stage, "kind": "paired", "method": method, "baseline": base,
                    "class": ALL, "adapt_steps": budget, "metric": metric, "compared": r["compared"],
                    "difference": _round(p.difference), "ci95": _round(p.half_width), "n": p.n,
                    "p_value": _round(p.p_value), "over": over,
                    "test": "one-sample t-test of the runs' mean differences, two-sided",
                    **{k: r[k] for k in ("ways", "unit") if k in r}})
    apply_holm(out)
    return out


def _same_in_every_run(values: list, runs: int) -> bool:
    vals = np.asarray(values, np.float64)
    return runs > 1 and len(vals) == runs and bool(np.all(np.isfinite(vals))) and np.ptp(vals) == 0


def _run_independent(record: dict, run_label: str) -> dict:
    """A run's record of a figure that is the same in every run, as the over-runs record."""
    out = {k: v for k, v in record.items() if k not in ("p_holm", "comparisons", "verdict")}
    out["run"] = run_label
    out["over"] = f"{record['over']} (the same in every run: independent of the meta-trained run)"
    return out

"""Writes a comparison's outputs: compare.json, compare.csv, grids/, the
recognisability-diversity plane (plane.png) and compare.md, with every method as a
row and the paired verdicts between every pair."""
from __future__ import annotations

from pathlib import Path


from metagan_cli.evaluation import metrics as M
from metagan_cli.evaluation.methods import COPY
from metagan_cli.evaluation.protocol import AUGMENTED, REAL_ONLY, STANDARD, augmented_row, mixed_row
from metagan_cli.evaluation.report import (F2GAN_TABLE, _fmt, _fmt_paired, paired_records, value_records, save_grids,
                                           validation_note, write_csv)
from metagan_cli.runs.run_dir import write_json_atomic

GENERATION_METRICS = ("recognisability", "recognisability_reference", "diversity", "memorisation", "kid")


def write_all(out_dir: Path, result: dict, grids: dict, class_names: dict) -> None:
    out_dir = Path(out_dir)
    write_json_atomic(out_dir / "compare.json", result)
    write_csv(out_dir / "compare.csv", result["records"])
    grid_files = save_grids(out_dir / "grids", grids, class_names, result["metadata"])
    plane = plot_plane(out_dir / "plane.png", result)
    (out_dir / "compare.md").write_text(markdown(result, plane, grid_files))


def headline(meta: dict) -> str:
    return meta["over_seeds"] or f"seed {meta['seeds'][0]}"


def plot_plane(path: Path, result: dict) -> Path:
    """Recognisability against diversity (Boutin et al., 2022), each method's points over
    its adaptation budgets joined in order, its low-data budget ringed; the shots' own
    point a star."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    meta = result["metadata"]
    values = value_records(result["records"], headline(meta), "generation")
    fig, ax = plt.subplots(figsize=(5.4, 4.2))
    for method in [m["label"] for m in meta["methods"]]:
        own = next(m["low_data_budget"] for m in meta["methods"] if m["label"] == method)
        points = [(b, values[(method, "recognisability", b)]["value"], values[(method, "diversity", b)]["value"])
                  for b in meta["budgets"] if (method, "recognisability", b) in values
                  and (method, "diversity", b) in values]
        if not points:
            continue
        x, y = [p[1] for p in points], [p[2] for p in points]
        line, = ax.plot(x, y, "-o", ms=3, lw=1.2, label=f"{method} (budgets {points[0][0]}-{points[-1][0]})")
        for b, px, py in points:
            if b == own:
                ax.plot([px], [py], "o", ms=10, mfc="none", color=line.get_color())
    copy = [values.get((COPY, m, meta["budgets"][0])) for m in ("recognisability", "diversity")]
    if all(copy):
        ax.plot([copy[0]["value"]], [copy[1]["value"]], "*", ms=14, color="black", label="the shots (copied)")
    ax.axhline(1.0, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("recognisability (nearest prototype among held-out classes)")
    ax.set_ylabel("diversity ratio (1 = as varied as real images)")
    ax.set_title(f"{meta['task']}, {meta['shots']} shots; {headline(meta)}\n"
                 "ringed: the budget the low-data protocol reads", fontsize=8.5)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def markdown(result: dict, plane: Path, grids: dict) -> str:
    records, meta = result["records"], result["metadata"]
    run = headline(meta)
    labels = [m["label"] for m in meta["methods"]]
    validation = meta.get("classes_measured") == "validation"
    lines = [f"# metagan compare: {meta['task']}, {meta['shots']} shots"
             f"{', validation classes' if validation else ''}", ""]
    if validation:
        lines += validation_note("compare", "choose between the methods")
    lines += [f"{'Validation' if validation else 'Held out'}: {', '.join(meta['held_out_classes'][:12])}"
             f"{' ...' if len(meta['held_out_classes']) > 12 else ''} "
             f"({len(meta['held_out_classes'])} classes, {meta['episodes_per_class']} support sets each). "
             f"Figures: {run}; ± is the {meta['statistics']['interval']}; paired: "
             f"{meta['statistics']['paired']}. Every method of a seed saw the same support sets, "
             f"episodes and classifier seeds.", "",
             "| method | algo | model | runs (one per seed) | low-data budget | z drawn from |",
             "| --- | --- | --- | --- | --- | --- |"]
    for m in meta["methods"]:
        lines.append(f"| {m['label']} | {m['algo']} | {m['model']} | {len(m['run_dirs'])} | "
                     f"{m['low_data_budget']} steps | N(0, {m.get('sample_temperature', 1.0):g}^2) |")
    values, paired = value_records(records, run), paired_records(records, run)
    lines += ["", "## Generation", "",
              "Each method at its low-data budget and after the largest budget.", "",
              "| method | steps | " + " | ".join(M.describe(m).title for m in GENERATION_METRICS
                                               if any(k[1] == m for k in values)) + " |"]
    shown = [m for m in GENERATION_METRICS if any(k[1] == m for k in values)]
    lines.append("| --- | --- |" + " --- |" * len(shown))
    for m in meta["methods"]:
        for b in sorted({m["low_data_budget"], max(meta["budgets"])}):
            lines.append(f"| {m['label']} | {b} | " + " | ".join(_fmt(values.get((m["label"], metric, b)))
                                                              for metric in shown) + " |")
    copy_row = [_fmt(values.get((COPY, metric, meta["budgets"][0]))) for metric in shown]
    if any(c != "-" for c in copy_row):
        lines.append(f"| {COPY} | - | " + " | ".join(copy_row) + " |")
    lines += ["", f"![recognisability against diversity]({plane.name})", ""]
    lines += _low_data(values, paired, meta, labels)
    lines += _pairs(paired, meta, labels)
    if grids:
        lines += ["## Samples (first seed, episode 0)", ""]
        lines += [f"![{c}](grids/{Path(p).name})" for c, p in grids.items()] + [""]
    lines += [f"Evaluator {meta['evaluator']['id']}; {meta['time_s']:.0f} s."]
    return "\n".join(lines) + "\n"


def _low_data(values, paired, meta, labels) -> list:
    ks = meta["low_data"]["ks"]
    if not ks:
        return []
    lines = ["## The low-data protocol", "",
             f"Per held-out class the first k real images, plus M = {meta['low_data']['generated']} images "
             f"from each method (made from the first {meta['shots']}), train a classifier from scratch; "
             f"{meta['low_data']['classifier_seeds']} classifier seeds. Accuracy in %, gain over Standard "
             f"and difference from traditional augmentation in points (paired, Holm-adjusted verdict).", "",
             "| row | " + " | ".join(f"k = {k}: accuracy | gain | minus augmentation" for k in ks) + " |",
             "| --- |" + " --- | --- | --- |" * len(ks)]
    derived = [row(label) for row in (augmented_row, mixed_row) for label in labels]
    for row in [STANDARD, AUGMENTED, *labels, *derived, COPY]:
        if not any((row, f"low_data_k{k}", None) in values for k in ks):
            continue
        cells = []
        for k in ks:
            gain = paired.get((row, STANDARD, f"low_data_k{k}", None))
            above = paired.get((row, AUGMENTED, f"low_data_k{k}", None))
            cells += [_fmt(values.get((row, f"low_data_k{k}", None))), _fmt_paired(gain) if gain else "",
                      _fmt_paired(above) if above else ""]
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    between = [(a, b) for a, b in meta.get("low_data_row_pairs", []) if a in derived and b in derived]
    if between:
        lines += ["", "The same rows between methods (first minus second, points):", ""]
        lines += [f"- {a} minus {b}, k = {k}: {_fmt_paired(r)}" for a, b in between for k in ks
                  if (r := paired.get((a, b, f"low_data_k{k}", None)))]
    lines += ["", "Beside it, not comparable in absolute terms (" + F2GAN_TABLE["source"] + "): "
              + ", ".join(f"{n} {a}" for n, a in F2GAN_TABLE["rows"]) + ".", ""]
    return lines


def _pairs(paired, meta, labels) -> list:
    """Every pair of methods: the low-data difference at each k, few-shot accuracy, and
    the generation metrics at the larger of the two methods' low-data budgets."""
    budget_of = {m["label"]: m["low_data_budget"] for m in meta["methods"]}
    lines = ["## Paired verdicts between every pair", "",
             "Difference = first method minus second (for diversity and memorisation: of the distance "
             "from the ideal); the verdict is Holm-adjusted.", "",
             "| first | second | measure | difference |", "| --- | --- | --- | --- |"]
    for a, b in meta["pairs"]:
        if b == COPY:
            continue
        for k in meta["low_data"]["ks"]:
            r = paired.get((a, b, f"low_data_k{k}", None))
            if r:
                lines.append(f"| {a} | {b} | low-data k = {k} (points) | {_fmt_paired(r)} |")
        for (ma, mb, metric, steps), r in paired.items():
            if (ma, mb) == (a, b) and r["stage"] == "classification":
                lines.append(f"| {a} | {b} | {metric.replace('accuracy_', '')} accuracy @{steps} | "
                             f"{_fmt_paired(r)} |")
        steps = max(budget_of[a], budget_of[b])
        for metric in GENERATION_METRICS:
            r = paired.get((a, b, metric, steps))
            if r:
                lines.append(f"| {a} | {b} | {metric} @{steps} | {_fmt_paired(r)} |")
    return lines + ["", f"Each method against the shots copied, and every budget: compare.json "
                        f"(records with kind = paired; {REAL_ONLY!r} is classification's reference).", ""]

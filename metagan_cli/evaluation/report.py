"""Writes an eval's outputs: eval.json, eval.csv, one plot per metric against the
adaptation budget, side-by-side sample grids, and report.md."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from metagan_cli.runs.images import tile
from metagan_cli.runs.run_dir import write_json_atomic

# direction: "lower" / "higher" is better; "one": closer to 1 is better
METRICS = {
    "kid": ("KID (evaluator features)", "lower",
            "unbiased squared MMD, cubic polynomial kernel, between generated images and the class's "
            "real images not in the support set (0 = same distribution; can be slightly negative)"),
    "fid": ("FID (evaluator features)", "lower",
            "Frechet distance between Gaussians fitted to the same two feature sets; biased upwards "
            "for small sets, compare only at equal sample counts"),
    "recognisability": ("recognisability (nearest prototype)", "higher",
                        "fraction of generated images whose nearest class prototype among all held-out "
                        "classes is their target class (prototypes: mean features of real held-out images)"),
    "recognisability_reference": ("recognisability (reference classifier)", "higher",
                                  "fraction assigned to the target class by the reference classifier trained "
                                  "on all classes, for evaluation only"),
    "diversity": ("diversity ratio", "one",
                  "mean pairwise feature distance of generated images / that of the class's real images "
                  "(1 = as varied as real images, 0 = a single image)"),
    "memorisation": ("memorisation ratio", "higher",
                     "mean distance to the nearest support shot / mean distance to the nearest of K unseen "
                     "real images of the class (0 = copies of the shots; about 1 = no closer to the shots "
                     "than to unseen images)"),
}


def _describe(metric: str) -> tuple[str, str, str]:
    if metric in METRICS:
        return METRICS[metric]
    ways = metric.split("_")[1]
    return (f"{ways} K-shot accuracy", "higher",
            f"{ways} K-shot nearest-prototype classification accuracy of real query images among the "
            f"held-out classes, prototypes from the K shots plus M generated images per class")


def write_all(out_dir: Path, result: dict, grids: dict, class_names: dict) -> None:
    out_dir = Path(out_dir)
    write_json_atomic(out_dir / "eval.json", result)
    write_csv(out_dir / "eval.csv", result["records"])
    plots = plot_all(out_dir / "plots", result)
    grid_files = save_grids(out_dir / "grids", grids, class_names, result["metadata"])
    write_report(out_dir / "report.md", result, plots, grid_files)


def write_csv(path: Path, records: list) -> None:
    fields = list(dict.fromkeys(k for r in records for k in r))
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for r in records:
            writer.writerow(r)


def _series(records, metric, cls="all held-out"):
    out: dict = {}
    for r in records:
        if r["metric"] == metric and r["class"] == cls:
            out.setdefault(r["method"], []).append((r["adapt_steps"], r["value"], r["ci95"]))
    return {m: sorted(v) for m, v in out.items()}


def plot_all(plot_dir: Path, result: dict) -> dict:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plot_dir.mkdir(parents=True, exist_ok=True)
    records, meta = result["records"], result["metadata"]
    metrics = list(dict.fromkeys(r["metric"] for r in records))
    files = {}
    for metric in metrics:
        title, direction, _ = _describe(metric)
        series = _series(records, metric)
        fig, ax = plt.subplots(figsize=(5.2, 3.3))
        for i, (method, points) in enumerate(series.items()):
            x = np.asarray([p[0] for p in points], float)
            y = np.asarray([p[1] for p in points])
            err = np.asarray([p[2] for p in points])
            style = "--" if method in ("copy the shots", "real shots only") else "-"
            ax.plot(x, y, style, marker="o", ms=3, label=method,
                    lw=2.2 if method == meta["evaluated_method"] else 1.3)
            ax.fill_between(x, y - err, y + err, alpha=0.15)
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xlabel("adaptation steps on the K shots")
        better = {"lower": "lower is better", "higher": "higher is better", "one": "1 = real spread"}[direction]
        extra = ""
        if metric.startswith("accuracy_"):
            ways = metric.split("_")[1][:-3]
            used = meta["downstream"]["ways_used"].get(ways)
            if used is not None and str(used) != ways:
                extra = f" (only {used} held-out classes: {used}-way)"
        ax.set_title(f"{title}{extra}\n{meta['task']}, {meta['shots']} shots, {better}", fontsize=8.5)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        path = plot_dir / f"{metric}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        files[metric] = path
    return files


def save_grids(grid_dir: Path, grids: dict, class_names: dict, meta: dict) -> dict:
    """One PNG per class: the support shots on top, then a row per budget and a column
    per method, each cell a small grid of samples of episode 0."""
    grid_dir.mkdir(parents=True, exist_ok=True)
    files = {}
    for c, g in grids.items():
        methods = list(dict.fromkeys(m for m, _ in g["samples"]))
        budgets = sorted({b for _, b in g["samples"]})
        cells = {k: tile(v, columns=min(4, len(v))) for k, v in g["samples"].items()}
        cell_w = max(im.width for im in cells.values())
        cell_h = max(im.height for im in cells.values())
        support = tile(g["support"], columns=len(g["support"]))
        label_w, head_h, pad = 70, 28, 6
        width = max(label_w + len(methods) * (cell_w + pad), support.width + label_w)
        height = head_h + support.height + pad + head_h + len(budgets) * (cell_h + pad)
        canvas = Image.new("L", (width, height), 0)
        draw = ImageDraw.Draw(canvas)
        draw.text((4, 4), f"class {class_names[c]}: the {len(g['support'])} support shots", fill=255)
        canvas.paste(support.convert("L"), (label_w, head_h - 10))
        y0 = head_h + support.height + pad
        for j, m in enumerate(methods):
            x = label_w + j * (cell_w + pad)
            words = m.split(" ")
            draw.text((x, y0), " ".join(words[:2])[:22], fill=255)
            if len(words) > 2:
                draw.text((x, y0 + 11), " ".join(words[2:])[:22], fill=255)
        for i, b in enumerate(budgets):
            y = y0 + head_h + i * (cell_h + pad)
            draw.text((4, y + cell_h // 2 - 6), f"{b} steps", fill=255)
            for j, m in enumerate(methods):
                if (m, b) in cells:
                    canvas.paste(cells[(m, b)].convert("L"), (label_w + j * (cell_w + pad), y))
        safe = str(class_names[c]).replace("/", "_")
        path = grid_dir / f"class_{safe}.png"
        canvas.save(path)
        files[c] = path
    return files


def _fmt(r) -> str:
    if r is None:
        return "-"
    v, ci = r["value"], r["ci95"]
    digits = 3 if abs(v) < 100 else 1
    return f"{v:.{digits}f} ± {ci:.{digits}f}"


def _verdict(a, b, direction) -> str:
    """Where method a stands against baseline b (CI overlap as the criterion)."""
    if a is None or b is None:
        return "n/a"
    va, vb, ca, cb = a["value"], b["value"], a["ci95"], b["ci95"]
    if direction == "one":
        va, vb = -abs(va - 1), -abs(vb - 1)
        direction = "higher"
    if direction == "lower":
        va, vb = -va, -vb
    if abs(va - vb) <= ca + cb:
        return "overlapping CIs"
    return "better" if va > vb else "worse"


def write_report(path: Path, result: dict, plots: dict, grids: dict) -> None:
    records, meta = result["records"], result["metadata"]
    ev = meta["evaluator"]
    me = meta["evaluated_method"]
    budgets = meta["budgets"]
    methods = meta["methods"]
    agg = {(r["method"], r["metric"], r["adapt_steps"]): r for r in records if r["class"] == "all held-out"}
    metrics = list(dict.fromkeys(r["metric"] for r in records))
    base = path.parent
    rel = lambda p: Path(p).relative_to(base).as_posix()
    lines = [f"# metagan eval: {meta['evaluated_algo']} against the baselines on {meta['task']}'s "
             f"held-out classes, {meta['shots']} shots", ""]
    lines += [
        "**These figures are not Inception-FID.** KID, FID, diversity and memorisation are computed "
        f"in the feature space of metagan's own evaluator network `{ev['id']}` (version "
        f"`{ev['version']}`: a small CNN trained by metagan on this task's {ev['trained_on_classes']} "
        "meta-train classes only, never on a held-out class). They are comparable only with other "
        f"metagan evals that use evaluator version `{ev['version']}` on the same data and split "
        "(same evaluator id), never with published Inception-FID numbers.", ""]
    if meta.get("reference_classifier"):
        rc = meta["reference_classifier"]
        lines += [f"`recognisability_reference` is judged by the {rc['description']} (its accuracy on "
                  f"held-back real images: {rc['held_out_accuracy']:.3f}).", ""]
    lines += ["## Set-up", "",
              "| | |", "| --- | --- |",
              f"| checkpoint | `{meta['checkpoint']}` (algo={meta['evaluated_algo']}, checkpoint at "
              f"meta-step {meta['run_checkpoint_step']} of train.steps={meta['run_train_steps']}, "
              f"{meta['run_inner_steps']} inner steps) |",
              f"| held-out classes | {len(meta['held_out_classes'])}: "
              f"{', '.join(map(str, meta['held_out_classes'][:12]))}{' ...' if len(meta['held_out_classes']) > 12 else ''} |",
              f"| shots K | {meta['shots']} |",
              f"| adaptation budgets (steps) | {', '.join(map(str, budgets))} |",
              f"| episodes per class | {meta['episodes_per_class']} (support sets; seed {meta['seed']}) |",
              f"| generated samples per episode, method and budget | {meta['samples_per_episode']} |",
              f"| real images compared with | the class's images not in the support set, at most "
              f"{meta['real_images_per_episode_max']} per episode (fewest available: "
              f"{meta['real_images_per_class_min']}) |",
              f"| inner optimiser (every method) | {meta['inner_optimiser']['name']} lr "
              f"{meta['inner_optimiser']['lr']}, n_critic {meta['inner_optimiser']['n_critic']} |",
              f"| evaluator | `{ev['id']}`, validation accuracy on meta-train classes "
              f"{ev['validation_accuracy_on_meta_train_classes']}, weights sha256 `{ev['weights_sha256'][:16]}`, "
              f"split sha256 `{ev['split_sha256'][:16]}` |",
              f"| pretrain baseline | {_pretrain_text(meta['pretrain_baseline'])} |",
              f"| scratch baseline | {meta['scratch_baseline'] or 'off'} |",
              f"| run time | {meta['time_s']:.0f} s on {meta['versions']['backend']} "
              f"(jax {meta['versions']['jax']}, metagan {meta['versions']['metagan']}) |", ""]
    ds = meta["downstream"]
    notes = [f"{w}-way was requested but the task has only {u} held-out classes, so those episodes are {u}-way"
             for w, u in ds["ways_used"].items() if str(u) != str(w)]
    lines += [f"Downstream: {ds['classification_episodes']} classification episodes per way count, "
              f"{ds['queries_per_class']} real query images per class, {ds['classifier']}; 'with generated' "
              f"adds M = {ds['generated_per_class']} generated images per class to the K shots. Episode i "
              "reuses the support sets of adaptation episode i mod the episode count, so its confidence "
              "interval does not include the variation between more support sets than that."
              + (" **Note: " + "; ".join(notes) + ".**" if notes else ""), "",
              "Every value is a mean over held-out classes and episodes ± the half-width of its 95% "
              "confidence interval (1.96 standard errors).", ""]

    lines += ["## Where the evaluated method stands against each baseline", "",
              f"Per metric and budget: `better`, `worse` or `overlapping CIs` for {me} against each "
              "baseline (for the diversity ratio, closer to 1 is better).", ""]
    baselines = [m for m in methods if m != me]
    if "real shots only" in {r["method"] for r in records}:
        baselines.append("real shots only")
    for metric in metrics:
        title, direction, _ = _describe(metric)
        comps = [b for b in baselines if b != "real shots only" or metric.startswith("accuracy_")]
        if not comps:
            continue
        lines += [f"**{title}**", "", "| vs | " + " | ".join(f"{b} steps" for b in budgets) + " |",
                  "| --- |" + " --- |" * len(budgets)]
        for b in comps:
            row = [_verdict(agg.get((me, metric, s)), agg.get((b, metric, s)), direction) for s in budgets]
            lines.append(f"| {b} | " + " | ".join(row) + " |")
        lines.append("")
    summary = _headline(agg, metrics, me, baselines, budgets)
    lines += ["In short: " + summary, ""]

    lines += ["## Metrics against the adaptation budget", ""]
    for metric in metrics:
        title, direction, text = _describe(metric)
        lines += [f"### {title}", "", text + ".", ""]
        if metric in plots:
            lines += [f"![{title}]({rel(plots[metric])})", ""]
        present = [m for m in list(methods) + ["real shots only"] if (m, metric, budgets[0]) in agg]
        lines += ["| method | " + " | ".join(f"{b} steps" for b in budgets) + " |",
                  "| --- |" + " --- |" * len(budgets)]
        for m in present:
            lines.append(f"| {m} | " + " | ".join(_fmt(agg.get((m, metric, b))) for b in budgets) + " |")
        lines.append("")
    lines += ["## Samples", "",
              "Episode 0 of the first classes: support shots, then one column per method and one row "
              "per adaptation budget (same latents everywhere).", ""]
    for c, p in grids.items():
        lines += [f"![samples]({rel(p)})", ""]
    lines += ["## Files", "",
              "`eval.json` (every number as a record of method, class, shots, adapt_steps, metric, value, "
              "ci95, n; plus seeds, sample counts, evaluator identity and versions), `eval.csv` (the same "
              "records), `plots/`, `grids/`.", ""]
    path.write_text("\n".join(lines))


def _pretrain_text(info) -> str:
    if not info:
        return "off"
    if info.get("source") == "checkpoint":
        return (f"checkpoint `{info['run_dir']}` (checkpoint at step {info['checkpoint_step']} of "
                f"train.steps={info['train_steps']}; {info['inner_steps']} GAN steps each)")
    if info.get("source") == "trained by this eval":
        return (f"trained by this eval with the evaluated run's budget ({info['train_steps']} steps x "
                f"{info['inner_steps']} GAN steps; checkpoint at step {info['checkpoint_step']}), "
                f"in `{info['run_dir']}/`")
    return info.get("source", "")


def _headline(agg, metrics, me, baselines, budgets) -> str:
    parts = []
    for b in baselines:
        wins = losses = ties = 0
        for metric in metrics:
            if b == "real shots only" and not metric.startswith("accuracy_"):
                continue
            direction = _describe(metric)[1]
            for s in budgets:
                v = _verdict(agg.get((me, metric, s)), agg.get((b, metric, s)), direction)
                wins += v == "better"
                losses += v == "worse"
                ties += v == "overlapping CIs"
        parts.append(f"against {b}, {me} is better in {wins}, worse in {losses} and within the "
                     f"confidence intervals in {ties} of the (metric, budget) comparisons")
    return "; ".join(parts) + "." if parts else "no baselines were run."


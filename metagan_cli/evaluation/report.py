"""Writes an eval's outputs: eval.json, eval.csv, one plot per generation metric
against the adaptation budget, side-by-side sample grids, and report.md.  Titles,
directions and descriptions come from the metric registry."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from metagan_cli.evaluation import metrics as M
from metagan_cli.evaluation.protocol import AUGMENTED, REAL_ONLY, STANDARD
from metagan_cli.evaluation.summary import ALL
from metagan_cli.runs.images import tile
from metagan_cli.runs.run_dir import write_json_atomic

# the literature's low-data figures, quoted beside ours (another split and classifier)
F2GAN_TABLE = {"source": "F2GAN (Hong et al. 2020), Table: full Omniglot, its own 1200/212/211-class split "
                         "and classifier, k = 5 real images per class",
               "rows": [("Standard", 66.22), ("FIGR", 69.23), ("DAWSON", 68.56), ("DAGAN", 88.81),
                        ("MatchingGAN", 89.03), ("F2GAN", 91.93)]}


def headline_run(meta: dict) -> str:
    """The records the report leads with: over seeds when there are several runs."""
    return meta["over_seeds"] or f"seed {meta['runs'][0]['seed']}"


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


def value_records(records, run, stage=None):
    """{(method, metric, budget): record} of pooled value records of one run label."""
    return {(r["method"], r["metric"], r["adapt_steps"]): r for r in records
            if r["kind"] == "value" and r["class"] == ALL and r["run"] == run
            and (stage is None or r["stage"] == stage)}


def paired_records(records, run, stage=None):
    """{(method, baseline, metric, budget): record} of paired records of one run label."""
    return {(r["method"], r["baseline"], r["metric"], r["adapt_steps"]): r for r in records
            if r["kind"] == "paired" and r["run"] == run and (stage is None or r["stage"] == stage)}


def plot_all(plot_dir: Path, result: dict) -> dict:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plot_dir.mkdir(parents=True, exist_ok=True)
    records, meta = result["records"], result["metadata"]
    run = headline_run(meta)
    values = value_records(records, run, "generation")
    metrics = list(dict.fromkeys(k[1] for k in values))
    methods = list(dict.fromkeys(k[0] for k in values))
    files = {}
    for metric in metrics:
        m = M.describe(metric)
        fig, ax = plt.subplots(figsize=(5.2, 3.3))
        for method in methods:
            points = sorted((b, r["value"], r["ci95"] or 0.0) for (me, mt, b), r in values.items()
                            if me == method and mt == metric)
            x = np.asarray([p[0] for p in points], float)
            y = np.asarray([p[1] for p in points], float)
            err = np.asarray([p[2] for p in points], float)
            ax.plot(x, y, "--" if method == "copy the shots" else "-", marker="o", ms=3, label=method,
                    lw=2.2 if method == meta["evaluated_method"] else 1.3)
            ax.fill_between(x, y - err, y + err, alpha=0.15)
        if m.direction in ("one", "up_to_one"):
            ax.axhline(1.0, color="grey", lw=0.8, ls=":")
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xlabel("adaptation steps on the K shots")
        ax.set_title(f"{m.title}; {run}\n{meta['task']}, {meta['shots']} shots, {m.better}", fontsize=8.5)
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


def _num(x, digits=3) -> str:
    if x is None:
        return "-"
    digits = digits if abs(x) < 100 else 1
    return f"{x:.{digits}f}"


def _fmt(r) -> str:
    if r is None:
        return "-"
    if r["ci95"] is None:
        return f"{_num(r['value'])} (n = {r['n']}, no interval)"
    return f"{_num(r['value'])} ± {_num(r['ci95'])}"


def validation_note(command: str, purpose: str) -> list:
    """The lines that open a report measured on validation classes: not a result."""
    return [f"**Measured on the validation classes (eval.classes=validation)**, to {purpose}: "
            f"below, \"held-out\" means these validation classes. Not a result; the same {command} "
            f"without eval.classes=validation measures the held-out classes.", ""]


def _fmt_paired(r) -> str:
    if r is None:
        return "-"
    ci = "" if r["ci95"] is None else f" ± {_num(r['ci95'])}"
    word = {"better": "**better**", "worse": "**worse**"}.get(r.get("verdict"), "no clear difference")
    return f"{_num(r['difference'])}{ci}, {word}"


def _setup(meta: dict) -> list:
    ev = meta["evaluator"]
    runs = meta["runs"]
    run_text = "; ".join(f"`{r['run_dir']}` (seed {r['seed']}, checkpoint at meta-step {r['checkpoint_step']} "
                         f"of train.steps={r['train_steps']})" for r in runs)
    tuned = []
    for name, t in meta["baseline_tuning"].items():
        chosen = t["chosen"]
        search = ", ".join(f"lr {s['optimiser']['lr']:g}: KID {s['mean_kid']:.3f}" for s in t["search"])
        where = f"chosen on validation classes {', '.join(map(str, t['on']))} ({search})" if t["search"] else t["note"]
        tuned.append(f"{name}: {chosen['name']} lr {chosen['lr']:g} (b1 {chosen['b1']}), {where}")
    held = meta["held_out_classes"]
    return [
        "## Set-up", "", "| | |", "| --- | --- |",
        f"| runs ({len(runs)}) | {run_text} |",
        f"| algo, inner steps | {meta['evaluated_algo']}, {meta['run_inner_steps']} |",
        f"| {'measured (validation)' if meta.get('classes_measured') == 'validation' else 'held-out'} classes | "
        f"{len(held)}: {', '.join(map(str, held[:12]))}{' ...' if len(held) > 12 else ''} |",
        f"| validation classes | {len(meta['validation_classes'])} (never meta-trained on; baseline "
        f"settings were chosen on them, never on held-out classes) |",
        f"| shots K | {meta['shots']} |",
        f"| adaptation budgets (steps) | {', '.join(map(str, meta['budgets']))} |",
        f"| support sets per class | {meta['episodes_per_class']} (the same for every run and method; seed "
        f"{meta['seed']}) |",
        f"| generated samples per read-off | {meta['samples_per_episode']} |",
        f"| real images compared with | the class's images not in the support set, at most "
        f"{meta['real_images_per_episode_max']} per episode (fewest available: "
        f"{meta['real_images_per_class_min']}) |",
        f"| evaluated method's inner optimiser | {meta['inner_optimiser']['name']} lr "
        f"{meta['inner_optimiser']['lr']:g}, n_critic {meta['inner_optimiser']['n_critic']} (the run's own); "
        f"adapts {meta.get('evaluated_adapts', 'every parameter')}; draws z ~ N(0, "
        f"{meta.get('evaluated_sample_temperature', 1.0):g}^2) (the baselines at 1) |",
        f"| baselines' fine-tuning | {'; '.join(tuned) or 'no tuned baseline'}; "
        f"adapts {meta.get('baselines_adapt', 'every parameter')} (eval.baselines.adapt) |",
        f"| pretrain baseline | {_pretrain_text(meta['pretrain_baseline'])} |",
        f"| scratch baseline | {meta['scratch_baseline'] or 'off'} |",
        f"| evaluator | `{ev['id']}`, validation accuracy on meta-train classes "
        f"{ev['validation_accuracy_on_meta_train_classes']} |",
        f"| run time | {meta['time_s']:.0f} s on {meta['versions']['backend']} "
        f"(jax {meta['versions']['jax']}, metagan {meta['versions']['metagan']}) |", ""]


def _pretrain_text(info) -> str:
    if not info:
        return "off"
    if info.get("source") == "checkpoint":
        return (f"checkpoint `{info['run_dir']}` (at step {info['checkpoint_step']}; {info['inner_steps']} "
                f"GAN steps each; evaluated checkpoint at step {info['evaluated_step']})")
    if info.get("source") == "trained by this eval":
        return (f"trained by this eval per run with the evaluated checkpoint's budget ({info['checkpoint_step']} "
                f"steps x {info['inner_steps']} GAN steps, on as many images per step as the meta-learner's "
                f"tasks), in `{info['run_dir']}/`")
    return info.get("source", "")


def _statistics_text(records, run: str) -> list:
    fam = [r for r in records if r["kind"] == "paired" and r["run"] == run]
    m = fam[0]["comparisons"] if fam else 0
    sig = sum(r.get("verdict") in ("better", "worse") for r in fam)
    n = sorted({r["n"] for r in fam})
    over = sorted({r["over"] for r in fam})
    return [f"**Statistics.** Every ± is the half-width of a 95% interval with Student's t quantile for "
            f"the real n (n and what was replicated are in every record of eval.json). Verdicts come from "
            f"paired differences (evaluated minus baseline, over the same units): "
            f"{fam[0]['test'] if fam else 'paired t-test'}, Holm-adjusted over the {m} comparisons of this "
            f"family ({sig} significant at 5%); `better` / `worse` only where the adjusted p < 0.05. "
            f"n here: {', '.join(map(str, n))}; over: {'; '.join(over)}.", ""]


def write_report(path: Path, result: dict, plots: dict, grids: dict) -> None:
    records, meta = result["records"], result["metadata"]
    ev = meta["evaluator"]
    me = meta["evaluated_method"]
    run = headline_run(meta)
    several = meta["over_seeds"] is not None
    base = path.parent
    rel = lambda p: Path(p).relative_to(base).as_posix()
    validation = meta.get("classes_measured") == "validation"
    lines = [f"# metagan eval: {meta['evaluated_algo']} against the baselines on {meta['task']}'s "
             f"{'validation' if validation else 'held-out'} classes, {meta['shots']} shots", ""]
    if validation:
        lines += validation_note("eval", "choose a setting")
    lines += [
        "**These figures are not Inception-FID.** KID, FID, diversity and memorisation are computed "
        f"in the feature space of metagan's own evaluator network `{ev['id']}` (version "
        f"`{ev['version']}`: a small CNN trained by metagan on this task's {ev['trained_on_classes']} "
        "meta-train classes only, never on a held-out or validation class). They are comparable only "
        f"with other metagan evals that use evaluator version `{ev['version']}` on the same data and "
        "split (same evaluator id), never with published Inception-FID numbers.", ""]
    if meta.get("reference_classifier"):
        rc = meta["reference_classifier"]
        lines += [f"`recognisability_reference` is judged by the {rc['description']} (its accuracy on "
                  f"held-back real images: {rc['held_out_accuracy']:.3f}).", ""]
    lines += _setup(meta)
    lines += [f"The figures below are {'means over the meta-training seeds (' + run + '): each run contributes its mean, so intervals include training variance' if several else 'those of one meta-training run (' + run + '); intervals do not include training variance'}.", ""]
    lines += _statistics_text(records, run)

    values, paired = value_records(records, run), paired_records(records, run)
    gen = {k: r for k, r in values.items() if r["stage"] == "generation"}
    metrics = list(dict.fromkeys(k[1] for k in gen))
    budgets = meta["budgets"]
    baselines = [m for m in meta["methods"] if m != me]
    lines += ["## Paired verdicts: the evaluated method against each baseline", "",
              f"Each cell: mean paired difference ({me} minus the baseline) ± its 95% t interval, then the "
              "Holm-adjusted verdict. For the diversity ratio the difference is of |value - 1|, for "
              "memorisation of max(1 - value, 0) (negative = closer to the ideal).", ""]
    for metric in metrics:
        m = M.describe(metric)
        lines += [f"**{m.title}** ({m.better})", "", "| vs | " + " | ".join(f"{b} steps" for b in budgets) + " |",
                  "| --- |" + " --- |" * len(budgets)]
        for b in baselines:
            lines.append(f"| {b} | " + " | ".join(_fmt_paired(paired.get((me, b, metric, s))) for s in budgets) + " |")
        lines.append("")
    tally = {}
    for r in paired.values():
        if r["method"] == me and r["stage"] == "generation":
            tally.setdefault(r["baseline"], [0, 0, 0])[["better", "worse", "no clear difference"].index(r["verdict"])] += 1
    lines += ["In short: " + ("; ".join(f"against {b}, {me} is better in {t[0]}, worse in {t[1]} and not clearly "
                                        f"different in {t[2]} of the (metric, budget) comparisons"
                                        for b, t in tally.items()) or "no baselines were run") + ".", ""]

    lines += _classification(records, run, meta, me)
    lines += _low_data(records, run, meta)

    lines += ["## Generation metrics against the adaptation budget", ""]
    for metric in metrics:
        m = M.describe(metric)
        lines += [f"### {m.title}", "", f"{m.description}; {m.better}.", ""]
        if metric in plots:
            lines += [f"![{m.title}]({rel(plots[metric])})", ""]
        present = [x for x in meta["methods"] if (x, metric, budgets[0]) in gen]
        lines += ["| method | " + " | ".join(f"{b} steps" for b in budgets) + " |",
                  "| --- |" + " --- |" * len(budgets)]
        for x in present:
            lines.append(f"| {x} | " + " | ".join(_fmt(gen.get((x, metric, b))) for b in budgets) + " |")
        lines.append("")
    if several:
        lines += _per_seed(records, meta, metrics)
    lines += ["## Samples", "",
              "Episode 0 of the first classes (first run): support shots, then one column per method and one "
              "row per adaptation budget (same latents everywhere).", ""]
    for c, p in grids.items():
        lines += [f"![samples]({rel(p)})", ""]
    lines += ["## Files", "",
              "`eval.json`: every number as a record (run, stage, kind value or paired, method, baseline, class, "
              "adapt_steps, metric, value or difference, ci95, n, over, p_value, p_holm, verdict), plus the "
              "set-up, seeds, baseline search, evaluator identity and versions; `eval.csv`: the same records; "
              "`plots/`, `grids/`.", ""]
    path.write_text("\n".join(lines))


def _classification(records, run, meta, me) -> list:
    cl = meta["classification"]
    values, paired = value_records(records, run, "classification"), paired_records(records, run, "classification")
    if not values:
        return []
    lines = ["## Few-shot classification with generated images", "",
             f"N-way {meta['shots']}-shot nearest-prototype classification (evaluator features) of real query "
             f"images among the held-out classes; {cl['episodes']} episodes per N, each drawing its own classes, "
             f"support shots and {cl['queries_per_class']} query images per class; a generator method adapts to "
             f"the episode's shots ({', '.join(map(str, cl['budgets']))} steps) and adds "
             f"{cl['generated_per_class']} generated images per class to the prototypes. An N-way figure appears "
             f"only where N is below the number of held-out classes; otherwise one `all held-out` figure.", ""]
    for label in cl["labels"]:
        metric = f"accuracy_{label}"
        rows = {k: r for k, r in values.items() if k[1] == metric}
        if not rows:
            continue
        title = label.replace("all_", "all held-out, ").replace("way", "-way")
        lines += [f"**{title}**", "", "| method | steps | accuracy | minus real shots only | vs each baseline |",
                  "| --- | --- | --- | --- | --- |"]
        for (method, _, b), r in rows.items():
            gain = paired.get((method, REAL_ONLY, metric, b))
            vs = "; ".join(f"{base}: {_fmt_paired(p)}" for (mm, base, mt, bb), p in paired.items()
                           if mm == method == me and mt == metric and bb == b and base != REAL_ONLY)
            lines.append(f"| {method} | {b} | {_fmt(r)} | {_fmt_paired(gain) if gain else ''} | {vs} |")
        lines.append("")
    return lines


def _low_data(records, run, meta) -> list:
    ld = meta["low_data"]
    values, paired = value_records(records, run, "low_data"), paired_records(records, run, "low_data")
    if not values:
        return []
    ks = ld["ks"]
    rows = list(dict.fromkeys(k[0] for k in values))
    extra_rows = ("; a row + traditional augmentation: its M images, each shifted, rotated and scaled once"
                  if ld.get("augment_generated") else "")
    if ld.get("mix_augmented"):
        extra_rows += ("; a row half the generator's, half traditional augmentation's: the evaluated "
                       "generator's first M/2 images and the first M/2 of the augmentation row's")
    lines = ["## The low-data protocol", "",
             f"DAGAN's protocol as in F2GAN's table: per held-out class the first k real images train "
             f"{ld['classifier']}, with M = {ld['generated']} added images per class from each method (a generator "
             f"adapts {_low_data_budgets(ld)} on {ld['adapted_from']}; traditional augmentation: random shifts, "
             f"small rotations and scales of the k images; copy the shots: the K shots repeated{extra_rows}), tested on "
             f"the class's later real images (at most {ld['test_images_max']} per class); "
             f"{ld['classifier_seeds']} classifier seeds. Accuracy in %, gain over Standard in points "
             f"(paired by classifier seed).", "",
             "| row | " + " | ".join(f"k = {k}: accuracy | gain" for k in ks) + " |",
             "| --- |" + " --- | --- |" * len(ks)]
    for row in rows:
        cells = []
        for k in ks:
            metric = f"low_data_k{k}"
            gain = paired.get((row, STANDARD, metric, None))
            cells += [_fmt(values.get((row, metric, None))), _fmt_paired(gain) if gain else ""]
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    against = [(row, k, paired[(row, AUGMENTED, f"low_data_k{k}", None)]) for row in rows for k in ks
               if (row, AUGMENTED, f"low_data_k{k}", None) in paired]
    if against:
        lines += ["", "Against traditional augmentation (the gain a generator has to beat; paired by "
                  "classifier seed, in points): " + "; ".join(f"{row} at k = {k}: {_fmt_paired(r)}"
                                                            for row, k, r in against) + "."]
    lines += ["", f"Beside it, **not comparable in absolute terms** ({F2GAN_TABLE['source']}): "
              + ", ".join(f"{name} {acc}" for name, acc in F2GAN_TABLE["rows"])
              + " (gains over Standard: " + ", ".join(f"{name} {acc - 66.22:+.2f}" for name, acc in
                                                      F2GAN_TABLE["rows"][1:]) + " points). Only gains over "
              "Standard compare across splits and classifiers.", ""]
    return lines


def _low_data_budgets(ld: dict) -> str:
    """How many steps the generators adapt in the low-data protocol, as text."""
    if not ld.get("choose_budget"):
        return f"{ld['budget']} steps{_own_budgets(ld)}"
    candidates = ", ".join(str(b) for b in ld["choose_budget"])
    chosen = "; ".join(f"{run}: " + ", ".join(f"{m} {b}" for m, b in per.items())
                       for run, per in ld["chosen_budgets"].items() if per)
    chosen = chosen or f"too few validation classes to choose on: {ld['budget']} steps"
    return (f"the budget among {candidates} steps with the best accuracy at the smallest k on the "
            f"validation classes, per run ({chosen})")


def _own_budgets(ld: dict) -> str:
    """The methods read at a budget of their own (DAGAN: 0 steps), as text."""
    own = {m: b for m, b in (ld.get("own_budgets") or {}).items() if b != ld["budget"]}
    return "".join(f", {m} {b}" for m, b in own.items())


def _per_seed(records, meta, metrics) -> list:
    budget = max(meta["budgets"])
    lines = ["## Per seed", "", f"Each run's own figures at {budget} steps (means over its support sets ± t "
             "intervals over them; these intervals hold the classes and the trained initialisation fixed).", "",
             "| run | method | " + " | ".join(M.describe(m).title for m in metrics) + " |",
             "| --- | --- |" + " --- |" * len(metrics)]
    for info in meta["runs"]:
        run = f"seed {info['seed']}"
        values = value_records(records, run, "generation")
        for method in meta["methods"]:
            lines.append(f"| {run} | {method} | " + " | ".join(_fmt(values.get((method, m, budget)))
                                                             for m in metrics) + " |")
    return lines + [""]

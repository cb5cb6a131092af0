"""A soak of meta-train: many meta-steps of the quickstart config in one process, with
its resident memory sampled from outside, then the run dir checked.

It answers three questions of docs/reliability.md: does memory stay flat once the run
is warm (a leak shows as growth proportional to the steps), are checkpoints pruned to
the last ``train.keep_checkpoints``, and is metrics.jsonl complete (one line per
``train.log_every`` steps, none missing, none twice).  Linux only (reads /proc).

  python scripts/soak.py --steps 20000 --out runs/soak --json docs/reliability/soak.json
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def last_step(metrics: Path) -> int:
    try:
        lines = metrics.read_text().splitlines()
        return json.loads(lines[-1])["step"] if lines else 0
    except (FileNotFoundError, ValueError, KeyError, IndexError):
        return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--out", default="runs/soak", help="the run dir (resumed if it exists)")
    ap.add_argument("--json", help="write the summary here as well")
    ap.add_argument("--every", type=float, default=10.0, help="seconds between memory samples")
    ap.add_argument("--warmup", type=float, default=0.1, help="share of the steps counted as warm-up")
    ap.add_argument("--rescore", metavar="JSON", help="recompute a summary's memory figures from "
                    "its trace (all samples when it holds 200 or fewer) and rewrite it")
    ap.add_argument("overrides", nargs="*", help="extra meta-train overrides")
    a = ap.parse_args(argv)
    if a.rescore:
        summary = json.loads(Path(a.rescore).read_text())
        for key in [k for k in summary if k.startswith(("rss_", "warm_"))]:
            del summary[key]
        trace = summary.pop("trace")
        summary = {**summary, **memory_figures(trace, summary["steps"], a.warmup), "trace": trace}
        return report(summary, a.rescore)
    if platform.system() != "Linux":
        sys.exit("soak.py reads /proc and runs on Linux only")
    out = Path(a.out)
    command = [sys.executable, "-m", "metagan_cli", "meta-train", f"train.steps={a.steps}",
               f"hydra.run.dir={out}", *a.overrides]
    t0 = time.perf_counter()
    child = subprocess.Popen(command)
    samples = []                  # (seconds, step, rss MB)
    while child.poll() is None:
        mb = rss_mb(child.pid)
        if mb is not None:
            samples.append((round(time.perf_counter() - t0, 1), last_step(out / "metrics.jsonl"), round(mb, 1)))
        time.sleep(a.every)
    if child.returncode:
        sys.exit(f"soak.py: meta-train exited with status {child.returncode}")

    run = json.loads((out / "run.json").read_text())
    cfg = run["config"]["train"]
    logged = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    expected = list(range(cfg["log_every"], a.steps + 1, cfg["log_every"]))
    if a.steps % cfg["log_every"]:
        expected.append(a.steps)
    kept = sorted(int(p.name) for p in (out / "checkpoints").iterdir() if p.name.isdigit())
    summary = {
        "command": " ".join(["metagan", "meta-train", *command[4:]]),
        "steps": a.steps, "wall_s": round(time.perf_counter() - t0, 1),
        **memory_figures(samples, a.steps, a.warmup),
        "metrics_lines": len(logged), "metrics_expected": len(expected),
        "metrics_complete": logged == expected,
        "checkpoints_kept": kept, "keep_checkpoints": cfg["keep_checkpoints"],
        "checkpoints_pruned": len(kept) <= cfg["keep_checkpoints"] and kept[-1:] == [a.steps],
        "trace": samples[:: max(1, len(samples) // 200)],
    }
    return report(summary, a.json)


def memory_figures(samples: list, steps: int, warmup: float) -> dict:
    """Resident memory while the run is warm: from the first sample at or after the
    warm-up share of the steps to the last one before the final step (after it, the
    process frees its programs and exits); growth = the largest warm sample over the
    first, and the least-squares slope in MB per 1,000 steps over the second half."""
    warm = [(step, mb) for _, step, mb in samples if warmup * steps <= step < steps]
    if not warm:
        return {"rss_mb_samples": len(samples), "rss_growth_warm": None}
    half = [(step, mb) for step, mb in warm if step >= steps / 2]
    slope = None
    if len({step for step, _ in half}) > 1:          # least squares: one sample does not decide it
        mean_step = sum(step for step, _ in half) / len(half)
        mean_mb = sum(mb for _, mb in half) / len(half)
        slope = 1000 * (sum((step - mean_step) * (mb - mean_mb) for step, mb in half)
                        / sum((step - mean_step) ** 2 for step, _ in half))
    mbs = [mb for _, mb in warm]
    return {"rss_mb_samples": len(samples), "warm_from_step": warm[0][0],
            "rss_mb_first_warm": mbs[0], "rss_mb_max_warm": max(mbs), "rss_mb_last_warm": mbs[-1],
            "rss_growth_warm": round(max(mbs) / mbs[0] - 1, 4),
            "rss_mb_per_1000_steps_second_half": round(slope, 2) if slope is not None else None,
            "rss_mb_peak": max(mb for _, _, mb in samples)}


def report(summary: dict, json_path: str | None) -> int:
    text = json.dumps(summary, indent=1)
    print(json.dumps({k: v for k, v in summary.items() if k != "trace"}, indent=1))
    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(text + "\n")
    ok = summary["metrics_complete"] and summary["checkpoints_pruned"] and (summary["rss_growth_warm"] or 0) <= 0.05
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

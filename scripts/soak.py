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
    ap.add_argument("overrides", nargs="*", help="extra meta-train overrides")
    a = ap.parse_args(argv)
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
    warm = [mb for _, step, mb in samples if step >= a.warmup * a.steps]
    summary = {
        "command": " ".join(["metagan", "meta-train", *command[4:]]),
        "steps": a.steps, "wall_s": round(time.perf_counter() - t0, 1),
        "rss_mb_samples": len(samples),
        "rss_mb_first_warm": warm[0] if warm else None,
        "rss_mb_min_warm": min(warm) if warm else None,
        "rss_mb_max_warm": max(warm) if warm else None,
        "rss_mb_last": warm[-1] if warm else None,
        "rss_growth_warm": round(max(warm) / min(warm) - 1, 4) if warm else None,
        "rss_mb_peak": max(mb for _, _, mb in samples) if samples else None,
        "metrics_lines": len(logged), "metrics_expected": len(expected),
        "metrics_complete": logged == expected,
        "checkpoints_kept": kept, "keep_checkpoints": cfg["keep_checkpoints"],
        "checkpoints_pruned": len(kept) <= cfg["keep_checkpoints"] and kept[-1:] == [a.steps],
        "trace": samples[:: max(1, len(samples) // 200)],
    }
    text = json.dumps(summary, indent=1)
    print(json.dumps({k: v for k, v in summary.items() if k != "trace"}, indent=1))
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(text + "\n")
    ok = summary["metrics_complete"] and summary["checkpoints_pruned"] and (summary["rss_growth_warm"] or 0) <= 0.05
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

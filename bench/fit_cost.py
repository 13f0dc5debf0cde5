"""Time to accuracy: the whole default ``fit`` on the ETT protocol, new default against the old one.

For every seed, interleaved (old, new, old, new, ...), the script runs ``bench/accuracy.py`` once per
model in a fresh child process (so each gets its own peak memory) at L = 96 and one horizon, and
reports per fit: CPU seconds of ``fit()`` (process CPU time, robust to other load), its wall
seconds, the epochs run until early stopping, the test MSE / MAE on the standard protocol (checked
independently by accuracy.py), and the child's peak resident memory (``ru_maxrss``, the whole
process: Python, torch, the data and the fit).

The two models: ``old`` is tsrnn's per-step default before segment recurrence (``STEP_MODEL`` in
bench/speed.py: LSTM 32 x 1, channel-independent, instance norm, direct head, no dropout, batch
32, lr 1e-3);
``new`` is ``RNNForecaster()``'s defaults of the day. Both keep every other default (epochs 30,
patience 5, cosine schedule, clipping 1.0).

    python bench/fit_cost.py datasets/ETTh2.csv [--seeds 0 1 2] [--horizon 96] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))


def run_fit(csv: Path, horizon: int, seed: int, params: dict, threads: int | None, label: str) -> dict:
    """One accuracy.py run in a child process; its JSON result plus the child's peak RSS and CPU."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "r.json"
        argv = [sys.executable, str(ROOT / "bench" / "accuracy.py"), str(csv), "--horizons", str(horizon)]
        argv += ["--seeds", str(seed), "--label", label, "--out", str(out)]
        argv += [a for k, v in params.items() for a in ("--param", f"{k}={json.dumps(v)}")]
        if threads is not None:
            argv += ["--threads", str(threads)]
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        err = proc.stderr.read()
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode:
            raise SystemExit(f"accuracy.py failed ({label}, seed {seed}):\n{err[-3000:]}")
        result = json.loads(out.read_text())
    run = result["horizons"][str(horizon)]["runs"][0]
    return {
        "seed": seed,
        "fit_cpu_s": run["fit_cpu_s"],
        "fit_s": run["fit_wall_s"],
        "epochs_run": run["epochs_run"],
        "best_epoch": run["best_epoch"],
        "test_mse": run["model"]["mse"],
        "test_mae": run["model"]["mae"],
        "peak_rss_mib": usage.ru_maxrss / 1024,  # Linux: KiB
        "child_cpu_s": usage.ru_utime + usage.ru_stime,
    }


def main(argv: list[str] | None = None) -> dict:
    from speed import STEP_MODEL, machine

    from tsrnn import RNNForecaster

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("csv", type=Path)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--horizon", type=int, default=96)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "fit_cost.json")
    args = ap.parse_args(argv)

    new = {k: v for k, v in RNNForecaster().get_params().items() if k in STEP_MODEL}
    models = {"old": STEP_MODEL, "new": new}
    runs: dict[str, list[dict]] = {name: [] for name in models}
    for seed in args.seeds:
        for name, params in models.items():
            r = run_fit(args.csv, args.horizon, seed, params, args.threads, name)
            runs[name].append(r)
            print(
                f"# {name} seed {seed}: {r['fit_cpu_s']:.0f} CPU-s, {r['fit_s']:.0f} s wall, {r['epochs_run']} epochs, "
                f"test MSE {r['test_mse']:.4f}, peak RSS {r['peak_rss_mib']:.0f} MiB",
                file=sys.stderr,
            )

    def summary(rs: list[dict], key: str) -> dict:
        values = [r[key] for r in rs]
        return {"mean": statistics.mean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0}

    keys = ("fit_cpu_s", "fit_s", "epochs_run", "test_mse", "test_mae", "peak_rss_mib")
    results = {
        "machine": machine(),
        "csv": str(args.csv),
        "horizon": args.horizon,
        "models": models,
        "runs": runs,
        "summary": {name: {k: summary(rs, k) for k in keys} for name, rs in runs.items()},
    }
    o, n = results["summary"]["old"], results["summary"]["new"]
    results["cpu_ratio_new_over_old"] = n["fit_cpu_s"]["mean"] / o["fit_cpu_s"]["mean"]
    print(json.dumps(results, indent=2))
    print(f"\n{'model':6s} {'CPU-s':>14s} {'wall s':>14s} {'epochs':>8s} {'test MSE':>16s} {'peak MiB':>9s}")
    for name, s in results["summary"].items():
        print(
            f"{name:6s} {s['fit_cpu_s']['mean']:7.0f} ± {s['fit_cpu_s']['std']:4.0f} "
            f"{s['fit_s']['mean']:7.0f} ± {s['fit_s']['std']:4.0f} {s['epochs_run']['mean']:8.1f} "
            f"{s['test_mse']['mean']:.4f} ± {s['test_mse']['std']:.4f} {s['peak_rss_mib']['mean']:9.0f}"
        )
    print(f"new / old CPU seconds: {results['cpu_ratio_new_over_old']:.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()

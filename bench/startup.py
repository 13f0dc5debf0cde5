"""Start-up time of the command line: `tsrnn --help` and `python -c "import tsrnn"`.

Each command runs ``--runs`` times (default 10) as a fresh subprocess, timed with
time.perf_counter; the median is compared with the target (`tsrnn --help` under 0.3 s). The
console script is the `tsrnn` next to sys.executable, so run this with the project's
environment active::

    python bench/startup.py            # 10 runs each
    python bench/startup.py --runs 30

It prints a table, then the figures as one JSON object on the last line. The exit status is 1
when the median of `tsrnn --help` is over the target. Timings depend on the machine and on what
else runs on it: compare figures taken on the same machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET_HELP_S = 0.3


def time_runs(cmd: list[str], runs: int) -> list[float]:
    """Wall time of ``runs`` fresh runs of ``cmd`` (after one untimed warm-up run)."""
    subprocess.run(cmd, check=True, capture_output=True)  # warm the file cache and bytecode
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return times


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=10)
    args = p.parse_args(argv)

    script = Path(sys.executable).with_name("tsrnn.exe" if os.name == "nt" else "tsrnn")
    if not script.exists():
        print(f"no console script at {script}: install the project (pip install -e .)", file=sys.stderr)
        return 2
    commands = {
        "tsrnn --help": [str(script), "--help"],
        "python -m tsrnn --help": [sys.executable, "-m", "tsrnn", "--help"],
        "python -c 'import tsrnn'": [sys.executable, "-c", "import tsrnn"],
        "python -c 'pass' (interpreter alone)": [sys.executable, "-c", "pass"],
    }
    results = {}
    for name, cmd in commands.items():
        t = time_runs(cmd, args.runs)
        results[name] = {
            "median_s": round(statistics.median(t), 4),
            "min_s": round(min(t), 4),
            "max_s": round(max(t), 4),
            "runs": len(t),
        }
    help_median = results["tsrnn --help"]["median_s"]
    out = {
        "results": results,
        "target_tsrnn_help_s": TARGET_HELP_S,
        "passed": help_median < TARGET_HELP_S,
        "cpus": os.cpu_count(),
        "cpu": cpu_model(),
        "python": platform.python_version(),
    }
    width = max(len(k) for k in results)
    print(f"tsrnn start-up ({args.runs} runs each, {out['cpus']} CPUs, {out['cpu']})")
    print(f"  {'command':<{width}}  median    min      max")
    for name, r in results.items():
        print(f"  {name:<{width}}  {r['median_s']:.3f} s  {r['min_s']:.3f} s  {r['max_s']:.3f} s")
    print(f"  target: tsrnn --help < {TARGET_HELP_S} s: {'PASS' if out['passed'] else 'FAIL'} ({help_median:.3f} s)")
    print(json.dumps(out))
    return 0 if out["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())

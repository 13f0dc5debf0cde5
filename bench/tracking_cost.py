"""What MLflow tracking and serving cost: `tsrnn fit` with and without tracking, and the latency
of the REST model server (`tsrnn serve`) answering one forecast.

1. ``tsrnn fit datasets/demo.csv`` (small model, few epochs) runs ``--runs`` times with
   ``--no-track`` and ``--runs`` times tracked into a fresh local sqlite store, interleaved; the
   difference of the medians is the cost of tracking (importing mlflow, logging params and
   per-epoch metrics, the artifacts and the pyfunc model).
2. The last tracked run's model is served with ``tsrnn serve --model runs:/ID/model`` on
   127.0.0.1; ``--requests`` POSTs of the last 200 rows of demo.csv (dataframe_split JSON) are
   timed one after another; median and 95th percentile latency are reported.

    OMP_NUM_THREADS=1 python bench/tracking_cost.py            # 3 fits each way, 200 requests

It prints a table, then the figures as one JSON object on the last line (also written to
bench/results/tracking_cost.json). Timings depend on the machine and its load: compare figures
taken on the same machine.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from speed import machine

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "datasets" / "demo.csv"
FIT = ["fit", str(DATA), "-L", "96", "-H", "24", "--epochs", "3", "--hidden", "32", "--quiet", "--json", "--force"]


def tsrnn(args: list[str], cwd: Path, env: dict) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "tsrnn", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"tsrnn {' '.join(args)} failed:\n{r.stderr[-3000:]}")
    return time.perf_counter() - t0, r


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_latency(run_id: str, cwd: Path, env: dict, requests: int) -> dict:
    import pandas as pd

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tsrnn", "serve", "--model", f"runs:/{run_id}/model", "--port", str(port)],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    try:
        while True:
            try:
                urllib.request.urlopen(url + "/ping", timeout=2)
                break
            except OSError as e:
                if server.poll() is not None or time.perf_counter() - t0 > 180:
                    raise SystemExit("the model server did not start") from e
                time.sleep(0.2)
        startup = time.perf_counter() - t0
        frame = pd.read_csv(DATA).tail(200)
        body = json.dumps({"dataframe_split": frame.to_dict(orient="split")}).encode()
        times = []
        for _ in range(requests + 5):
            request = urllib.request.Request(url + "/invocations", body, {"Content-Type": "application/json"})
            t = time.perf_counter()
            with urllib.request.urlopen(request, timeout=60) as r:
                r.read()
            times.append(time.perf_counter() - t)
        times = sorted(times[5:])  # the first requests warm up
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)
    return {
        "server_start_s": round(startup, 2),
        "requests": requests,
        "latency_p50_ms": round(1000 * statistics.median(times), 1),
        "latency_p95_ms": round(1000 * times[int(0.95 * (len(times) - 1))], 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, help="fits each way")
    ap.add_argument("--requests", type=int, default=200, help="REST requests to time")
    args = ap.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    env.pop("MLFLOW_TRACKING_URI", None)
    with tempfile.TemporaryDirectory(prefix="tsrnn-bench-") as tmp:
        cwd = Path(tmp)
        plain, tracked, run_id = [], [], ""
        for _ in range(args.runs):
            plain.append(tsrnn(FIT + ["--out", "m", "--no-track"], cwd, env)[0])
            t, r = tsrnn(FIT + ["--out", "m"], cwd, env)
            tracked.append(t)
            run_id = json.loads(r.stdout)["run_id"]
        serving = serve_latency(run_id, cwd, env, args.requests)
    result = {
        "fit_no_track_s": round(statistics.median(plain), 2),
        "fit_tracked_s": round(statistics.median(tracked), 2),
        "tracking_cost_s": round(statistics.median(tracked) - statistics.median(plain), 2),
        **serving,
        "machine": machine(),
    }
    import mlflow

    result["machine"]["mlflow"] = mlflow.__version__
    print(
        f"tsrnn fit (3 epochs, demo.csv), median of {args.runs}: no tracking {result['fit_no_track_s']} s, "
        f"tracked {result['fit_tracked_s']} s, cost {result['tracking_cost_s']} s"
    )
    print(
        f"tsrnn serve: up in {serving['server_start_s']} s; /invocations with 200 rows: "
        f"p50 {serving['latency_p50_ms']} ms, p95 {serving['latency_p95_ms']} ms over {args.requests} requests"
    )
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "tracking_cost.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    main()

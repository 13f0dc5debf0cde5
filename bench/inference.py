"""Inference speed, side by side in one run: historical forecasts against Darts, batch predict
over many series, and single-window latency of torch, ONNX Runtime and the REST server.

1. ``historical``: ETTh2 (``--data``), L = 96, H = 96, all 7 channels. tsrnn
   ``RNNForecaster(cell="lstm", hidden_size=64, num_layers=2, channel_independent=False,
   segment_length=None, head="direct", norm="none", dropout=0)`` (per-step, direct head: LSTM(7 -> 64, 2 layers) -> Linear(64 -> 96 x 7), 95,648
   parameters) and Darts ``BlockRNNModel`` of the same size (``bench/inference_darts.py``, run
   with ``--darts-python``, Darts' own virtual environment), each trained for one epoch on
   about 1,500 training windows (accuracy is not the point). Timed: every forecast whose
   horizon lies in the test split (the last 20 %: 3,389 windows): tsrnn
   ``historical_forecasts()`` (a long DataFrame in original units) against Darts
   ``historical_forecasts(retrain=False, last_points_only=False)`` (a list of TimeSeries, on
   data standardized beforehand, so Darts does no scaling). Timed beside them, the same way:
   tsrnn's default architecture with the same LSTM (``RNNForecaster(cell="lstm", hidden_size=64,
   num_layers=2)``, every other argument at its default: segment recurrence over 24-row segments,
   channel-independent, last-value normalisation, direct head), which reads 4 segments where the
   per-step LSTM reads 96 rows. On a CPU with native bf16 (``tsrnn.training.cpu_has_bf16``:
   AVX512-BF16 or AMX), both tsrnn models are timed again with the same weights predicting under
   ``precision="bf16"``, with their largest difference from the fp32 forecasts. Also reported:
   the GFLOP of each model's pass (its matrix products, counted from layer shapes), the
   GFLOP/s that 20x Darts' time would need, this machine's best matrix-product GFLOP/s, and
   what a bare ``nn.LSTM`` of the per-step model's shape reaches.
2. ``many``: the default forecaster of the day (``RNNForecaster()``'s defaults, L = 96,
   H = 96) fitted briefly on ``--series`` generated series of ``--steps`` hourly rows (string
   ids, long format), then ``predict(frame)`` on that 20 M-row DataFrame: it reads the last 96
   rows of every series, checks them, forecasts all series in batches and builds the table.
   Also ``predict()`` of the fitted series (no data to read).
3. ``latency``: one window of the ETTh2 model, ``--repeats`` times each: the torch module alone
   (``model_(x)`` under no_grad), ``RNNForecaster.predict(frame of 96 rows)``, the ONNX graph with
   ``tsrnn.onnx_runner.OnnxForecaster.forecast`` (scaling included; 1 onnxruntime thread), and
   ``tsrnn serve`` (POST of 96 rows as dataframe_split JSON to /invocations, answer parsed).

    python bench/inference.py --darts-python /work/bench-venv-darts/bin/python
    python bench/inference.py --parts many --series 1000     # one part, smaller

4. ``chunks``: both ETTh2 models' ``historical_forecasts`` with ``chunk_size`` 64 to 1,024
   windows (``--chunk-rounds`` interleaved rounds): the evidence for the default chunk size,
   ``tsrnn.estimators.forecaster.FORECAST_CHUNK``.

    python bench/inference.py --parts chunks

Prints a table and JSON; writes ``bench/results/inference.json``, where the parts run replace
their own figures and leave the other parts' (each with the machine line of its own run).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
L = H = 96


VARIANTS = {  # result key -> table name; the bf16 rows only on CPUs with native bf16
    "tsrnn": "tsrnn",
    "tsrnn_default": "tsrnn default arch.",
    "tsrnn_bf16": "tsrnn, bf16 inference",
    "tsrnn_default_bf16": "tsrnn default arch., bf16 inference",
}
PER_STEP = dict(channel_independent=False, segment_length=None, head="direct", norm="none", dropout=0.0)


def ett_model(data: Path, epochs: int, per_step: bool = True):
    """The 2 x 64 LSTM on ETTh2: per-step as Darts' (``PER_STEP``), or tsrnn's default architecture."""
    from tsrnn import RNNForecaster

    model = RNNForecaster(
        cell="lstm",
        lookback=L,
        horizon=H,
        hidden_size=64,
        num_layers=2,
        **(PER_STEP if per_step else {}),
        epochs=epochs,
        stride=8,  # about 1,500 training windows
        patience=None,
        random_state=0,
        device="cpu",
    )
    return model.fit(data)


GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}  # weight blocks per recurrent layer


def rnn_macs(m, batch: int, steps: int) -> int:
    """Multiply-adds of the matrix products of ``m`` (nn.LSTM, GRU or RNN) over ``batch``
    sequences of ``steps`` rows."""
    directions = 2 if m.bidirectional else 1
    total = 0
    for layer in range(m.num_layers):
        n_in = m.input_size if layer == 0 else m.hidden_size * directions
        total += GATES[type(m).__name__] * m.hidden_size * (n_in + m.hidden_size) * directions
    return batch * steps * total


def forward_gflop(model, frame: pd.DataFrame) -> float:
    """GFLOP (2 per multiply-add) of the matrix products in one pass of ``historical_forecasts``,
    counted from the shapes each recurrent and linear layer sees (torch's FlopCounterMode does
    not count the fused RNN kernels); elementwise work is left out, so this is a lower bound."""
    import torch

    macs = [0]

    def rnn_hook(m, args, out):
        x = args[0]  # (B, T, in) batch-first, as every tsrnn recurrent layer
        macs[0] += rnn_macs(m, x.shape[0], x.shape[1])

    def linear_hook(m, args, out):
        macs[0] += args[0].numel() * m.out_features  # (rows x in) @ (in x out)

    hooks = []
    for m in model.model_.modules():
        if isinstance(m, (torch.nn.LSTM, torch.nn.GRU, torch.nn.RNN)):
            hooks.append(m.register_forward_hook(rnn_hook))
        elif isinstance(m, torch.nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
    try:
        model.historical_forecasts(frame)
    finally:
        for h in hooks:
            h.remove()
    return 2 * macs[0] / 1e9


def peak_gflops(n: int = 2048, repeats: int = 5) -> dict[str, float]:
    """What this machine's torch threads reach, best of ``repeats``, in GFLOP/s: an n x n x n
    matrix product in fp32 and bf16 (what matrix products can run at, at most), and a bare
    ``nn.LSTM(7, 64, 2)`` forward over 256 windows of 96 rows, the per-step model's shape."""
    import torch

    out = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        out[name] = 2 * n**3 / (timed(functools.partial(torch.matmul, a, b), repeats)["min_ms"] / 1000) / 1e9
    lstm, x = torch.nn.LSTM(7, 64, 2, batch_first=True).eval(), torch.randn(256, 96, 7)
    with torch.no_grad():
        out["lstm_fp32"] = 2 * rnn_macs(lstm, 256, 96) / (timed(lambda: lstm(x), repeats)["min_ms"] / 1000) / 1e9
    return out


def historical(model, data: Path, darts_python: str | None, threads: int) -> dict:
    """Both tsrnn models' historical forecasts (and, on a CPU with native bf16, the same weights
    predicting under ``precision="bf16"``, with their largest difference from fp32), then Darts'."""
    from tsrnn.training import cpu_has_bf16

    frame = pd.read_csv(data)
    default = ett_model(data, epochs=1, per_step=False)
    runs = {"tsrnn": (model, "auto"), "tsrnn_default": (default, "auto")}
    if cpu_has_bf16():
        runs |= {"tsrnn_bf16": (model, "bf16"), "tsrnn_default_bf16": (default, "bf16")}
    out: dict = {}
    fp32: dict = {}
    for key, (m, precision) in runs.items():
        m.set_params(precision=precision)  # read by every no-grad forward pass
        t0 = time.perf_counter()
        hf = m.historical_forecasts(frame)
        out[f"{key}_s"] = time.perf_counter() - t0
        m.set_params(precision="auto")
        out[f"{key}_forecasts"] = int(hf.origin.nunique())
        out[f"{key}_rows"] = len(hf)
        out[f"{key}_params"] = sum(p.numel() for p in m.model_.parameters())
        out[f"{key}_first_origin"] = str(hf.origin.iloc[0])
        out[f"{key}_last_target"] = str(hf.date.iloc[-1])
        values = hf[list(m.targets_)].to_numpy()
        if precision == "auto":
            fp32[id(m)] = values
            out[f"{key}_gflop"] = forward_gflop(m, frame)  # an untimed pass of its own
        else:  # in original units; ETTh2's channels span about -10 to 110
            out[f"{key}_max_abs_diff_from_fp32"] = float(np.abs(values - fp32[id(m)]).max())
    out["gemm_gflops"] = peak_gflops()
    if darts_python:
        script = ROOT / "bench" / "inference_darts.py"
        r = subprocess.run(
            [darts_python, str(script), "--data", str(data), "--threads", str(threads)],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        if r.returncode != 0:
            out["darts_error"] = r.stderr[-2000:]
        else:
            d = json.loads(r.stdout.strip().splitlines()[-1])
            out.update({f"darts_{k}": v for k, v in d.items()})
            for key in runs:
                out[f"{key}_speedup"] = d["historical_forecasts_s"] / out[f"{key}_s"]
            # 20x Darts in fp32 would need this many GFLOP/s from the matrix products alone
            for key in ("tsrnn", "tsrnn_default"):
                out[f"{key}_gflops_needed_for_20x"] = out[f"{key}_gflop"] / (d["historical_forecasts_s"] / 20)
    return out


CHUNKS = (64, 128, 256, 512, 1024)


def chunks(model, data: Path, rounds: int) -> dict:
    """Seconds of each model's historical forecasts per chunk size, rounds interleaved."""
    frame = pd.read_csv(data)
    models = {"tsrnn": model, "tsrnn_default": ett_model(data, epochs=1, per_step=False)}
    times: dict = {key: {c: [] for c in CHUNKS} for key in models}
    for _ in range(rounds):
        for key, m in models.items():
            for c in CHUNKS:
                t0 = time.perf_counter()
                m.historical_forecasts(frame, chunk_size=c)
                times[key][c].append(time.perf_counter() - t0)
    return {
        key: {str(c): {"runs_s": v, "median_s": float(np.median(v))} for c, v in per.items()}
        for key, per in times.items()
    }


def many_frame(n_series: int, steps: int, seed: int = 0) -> pd.DataFrame:
    """Long format: ``n_series`` hourly series of ``steps`` rows, string ids, one value column."""
    rng = np.random.default_rng(seed)
    k = np.arange(steps, dtype=np.float32)
    level = rng.normal(0, 50, (n_series, 1)).astype(np.float32)
    amp = rng.uniform(0.5, 20, (n_series, 1)).astype(np.float32)
    y = level + amp * np.sin(2 * np.pi * k / 24) + rng.standard_normal((n_series, steps), dtype=np.float32)
    names = pd.array([f"series-{i:05d}" for i in range(n_series)], dtype="str")
    ids = pd.Categorical.from_codes(np.repeat(np.arange(n_series), steps), categories=names).astype("str")
    times = pd.date_range("2024-01-01", periods=steps, freq="h").as_unit("ns").values
    return pd.DataFrame({"id": ids, "time": np.tile(times, n_series), "y": y.ravel()})


def many(n_series: int, steps: int) -> dict:
    from tsrnn import RNNForecaster

    t0 = time.perf_counter()
    frame = many_frame(n_series, steps)
    make_s = time.perf_counter() - t0
    model = RNNForecaster(
        lookback=L, horizon=H, epochs=1, stride=steps, batch_size=1024, val=0, test=0, id_col="id", device="cpu"
    )
    model.set_params(patience=None, random_state=0)
    t0 = time.perf_counter()
    model.fit(frame)
    fit_s = time.perf_counter() - t0
    runs = []
    for _ in range(3):
        t0 = time.perf_counter()
        out = model.predict(frame)
        runs.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    series = model.load_data(frame, last=L)
    load_s = time.perf_counter() - t0
    fitted = []
    for _ in range(3):
        t0 = time.perf_counter()
        model.predict()
        fitted.append(time.perf_counter() - t0)
    return {
        "series": n_series,
        "steps": steps,
        "frame_rows": len(frame),
        "make_frame_s": make_s,
        "fit_s": fit_s,
        "predict_frame_s": runs,
        "predict_frame_median_s": float(np.median(runs)),
        "of_which_load_last_rows_s": load_s,
        "loaded_rows": series.n_rows,
        "predict_fitted_s": fitted,
        "predict_fitted_median_s": float(np.median(fitted)),
        "forecast_rows": len(out),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentiles(times: list[float]) -> dict:
    ms = np.array(times) * 1000
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "min_ms": float(ms.min()),
        "n": len(ms),
    }


def timed(fn, repeats: int) -> dict:
    for _ in range(min(20, repeats)):  # warm-up
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return percentiles(times)


def latency(model, data: Path, repeats: int, rest_repeats: int, workdir: Path) -> dict:
    import torch

    from tsrnn.onnx_runner import OnnxForecaster

    frame = pd.read_csv(data)
    window = frame.iloc[-L:].reset_index(drop=True)
    x_orig = window[model.targets_].to_numpy(np.float32)[None]  # (1, L, C)
    x = torch.from_numpy(((x_orig - model.scaler_.center_[0]) / model.scaler_.scale_[0]).astype(np.float32))
    out: dict = {}

    def module() -> None:
        with torch.no_grad():
            model.model_(x)

    out["torch_module"] = timed(module, repeats)
    out["torch_predict_frame"] = timed(lambda: model.predict(window), max(repeats // 10, 50))
    runner = OnnxForecaster(model.export_onnx(workdir / "onnx"), threads=1)
    got = runner.forecast(x_orig)[0, :, :, 0]
    out["onnx_vs_predict_max_abs_diff"] = float(np.abs(got - model.predict(window).to_numpy()).max())
    out["onnx_runtime"] = timed(lambda: runner.forecast(x_orig), repeats)
    out["rest_server"] = rest(model, window, rest_repeats, workdir)
    return out


def rest(model, window: pd.DataFrame, repeats: int, workdir: Path) -> dict:
    model.save(workdir / "model", overwrite=True)
    port = free_port()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    server = subprocess.Popen(
        [sys.executable, "-m", "tsrnn", "serve", "--model", str(workdir / "model"), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=1).read()
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    return {"error": "the server did not start"}
                time.sleep(0.5)
        body = json.dumps({"dataframe_split": json.loads(window.to_json(orient="split", index=False))}).encode()

        def post() -> None:
            req = urllib.request.Request(
                f"http://127.0.0.1:{port}/invocations", data=body, headers={"Content-Type": "application/json"}
            )
            json.loads(urllib.request.urlopen(req, timeout=30).read())

        return timed(post, repeats)
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)


def machine() -> dict:
    import torch

    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "load1_before": os.getloadavg()[0],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=ROOT / "datasets" / "ETTh2.csv")
    p.add_argument("--darts-python", help="python of a virtual environment with Darts (else Darts is skipped)")
    p.add_argument("--parts", default="historical,many,latency")
    p.add_argument("--series", type=int, default=10_000)
    p.add_argument("--steps", type=int, default=2_000)
    p.add_argument("--repeats", type=int, default=1000)
    p.add_argument("--rest-repeats", type=int, default=200)
    p.add_argument("--threads", type=int, default=1, help="torch threads (torch.set_num_threads)")
    p.add_argument("--chunk-rounds", type=int, default=3, help="--parts chunks: rounds per chunk size")
    a = p.parse_args()
    import torch

    torch.set_num_threads(a.threads)
    parts = a.parts.split(",")
    result: dict = {"machine": machine()}
    with tempfile.TemporaryDirectory(prefix="tsrnn-bench-") as tmp:
        model = ett_model(a.data, epochs=1) if {"historical", "latency", "chunks"} & set(parts) else None
        if "historical" in parts:
            result["historical"] = historical(model, a.data, a.darts_python, a.threads)
        if "many" in parts:
            result["many"] = many(a.series, a.steps)
        if "latency" in parts:
            result["latency"] = latency(model, a.data, a.repeats, a.rest_repeats, Path(tmp))
        if "chunks" in parts:
            result["chunks"] = chunks(model, a.data, a.chunk_rounds)
    result["machine"]["load1_after"] = os.getloadavg()[0]
    print(json.dumps(result, indent=2))
    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    name = "inference.json" if parts != ["chunks"] else "inference_chunks.json"  # a sweep keeps the main figures
    path = ROOT / "bench" / "results" / name
    # the parts run replace their own figures only; each part keeps the machine line of its run
    kept = json.loads(path.read_text()) if path.exists() else {}
    kept.pop("machine", None)  # files written before each part carried its own
    kept.update({part: {**result[part], "machine": result["machine"]} for part in parts if part in result})
    path.write_text(json.dumps(kept, indent=2))
    table(result)


def table(r: dict) -> None:
    rows = []
    if h := r.get("historical"):
        ran = {key: name for key, name in VARIANTS.items() if key + "_s" in h}
        for key, name in ran.items():
            rows.append(
                (f"historical forecasts, {name}", f"{h[key + '_s']:.2f} s", f"{h[key + '_forecasts']} forecasts")
            )
        if "darts_historical_forecasts_s" in h:
            rows.append(
                (
                    "historical forecasts, Darts",
                    f"{h['darts_historical_forecasts_s']:.2f} s",
                    f"{h['darts_forecasts']} forecasts",
                )
            )
            for key in ("tsrnn", "tsrnn_default"):
                rows.append(
                    (
                        f"  {VARIANTS[key]}: GFLOP, GFLOP/s reached / needed for 20x",
                        f"{h[key + '_gflop']:.1f}",
                        f"{h[key + '_gflop'] / h[key + '_s']:.0f} / {h[key + '_gflops_needed_for_20x']:.0f}",
                    )
                )
            peak = h["gemm_gflops"]
            rows.append(("  matrix product peak, fp32 / bf16", f"{peak['fp32']:.0f}", f"{peak['bf16']:.0f} GFLOP/s"))
            rows.append(("  bare nn.LSTM(7, 64, 2), 256 x 96 rows, fp32", f"{peak['lstm_fp32']:.0f}", "GFLOP/s"))
            for key, name in ran.items():
                rows.append((f"  {name} speed-up", f"{h[key + '_speedup']:.1f}x", "target >= 20x"))
    if m := r.get("many"):
        rows.append(
            (f"predict(frame) {m['series']:,} x {m['steps']:,}", f"{m['predict_frame_median_s']:.2f} s", "target < 2 s")
        )
        rows.append(("  of which reading the last rows", f"{m['of_which_load_last_rows_s']:.2f} s", ""))
        rows.append(("predict() of the fitted series", f"{m['predict_fitted_median_s']:.2f} s", ""))
    if lat := r.get("latency"):
        for k in ("torch_module", "torch_predict_frame", "onnx_runtime", "rest_server"):
            v = lat[k]
            rows.append(
                (
                    f"one window, {k}",
                    f"p50 {v.get('p50_ms', float('nan')):.3f} ms",
                    f"p95 {v.get('p95_ms', float('nan')):.3f} ms",
                )
            )
    for key, per in r.get("chunks", {}).items():
        for c, v in per.items():
            rows.append((f"historical forecasts, {VARIANTS[key]}, chunk {c}", f"{v['median_s']:.3f} s", "median"))
    width = max((len(row[0]) for row in rows), default=0)
    for row in rows:
        print(f"{row[0]:<{width}} {row[1]:>12}  {row[2]}")


if __name__ == "__main__":
    main()

"""How fast the detector scores a stream, adaptation on and off: rows/s of ``update()``, and its memory.

The default detector (``--param k=v`` to change it; ``--epochs`` short, speed does not depend on
it) is fitted on 2,000 rows of a noisy two-channel sine, then ``--rows`` further rows (with a
level shift half-way) are streamed through ``update()`` in chunks of ``--chunk``, with adaptation
off and with ``adapt_every`` each of ``--every`` (default adapt_rows 512 and adapt_steps 5). The
resident memory (RSS) is read after each quarter of the stream: flat if the work per row does not
grow with the stream. The first ``--rows-chunk1`` rows are also streamed one row per call, with
the first ``--every``; each run reports how many fine-tunes it made (a fine-tune is skipped
when no window of the kept rows is free of flagged rows). One fine-tune is also timed on its
own: through ``tsrnn.training.Trainer`` (what the detector does) and through a bare five-step
loop over the same batches. On a CPU with native bf16 (AVX512-BF16 or AMX), a fine-tune and the
scoring of 100 windows are also timed in fp32 and bf16 alternately (``precision_ab``): the
stream's rows/s under ``--param precision=bf16`` are not comparable when its flags, and so its
fine-tunes, differ.

    python bench/stream_speed.py                 # one torch thread, 100,000 rows, chunks of 100

It prints one JSON object (also written to bench/results/stream_speed.json). Timings depend on
the machine and its load: compare figures taken on the same machine.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from detect_quality import parse_params  # noqa: E402
from speed import machine  # noqa: E402

from tsrnn import RNNAnomalyDetector  # noqa: E402
from tsrnn.estimators import adaptation  # noqa: E402


def frame(n: int, seed: int, shift_at: int | None = None) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    a = np.sin(2 * np.pi * t / 24) + 0.05 * rng.normal(size=n)
    if shift_at is not None:
        a[shift_at:] += 1.0
    b = np.cos(2 * np.pi * t / 24) + 0.05 * rng.normal(size=n)
    return pd.DataFrame({"time": pd.date_range("2024-01-01", periods=n, freq="min"), "a": a, "b": b})


def rss_mib() -> float:
    """The process's resident memory now (Linux), in MiB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def stream_speed(det: RNNAnomalyDetector, df: pd.DataFrame, chunk: int) -> dict:
    """rows/s of update over df in chunks, share of flagged rows, RSS (MiB) after each quarter."""
    det.flush()
    flagged, rss = 0, []
    quarters = {len(df) * q // 4 for q in (1, 2, 3, 4)}
    t0 = time.perf_counter()
    for i in range(0, len(df), chunk):
        flagged += int(det.update(df.iloc[i : i + chunk])["is_anomaly"].sum())
        if min(i + chunk, len(df)) in quarters:
            rss.append(round(rss_mib(), 1))
    seconds = time.perf_counter() - t0
    adapt = det._stream.adapt
    det.flush()
    return {
        "rows_per_s": round(len(df) / seconds),
        "flagged": round(flagged / len(df), 4),
        "fine_tunes": adapt.adaptations - adapt.skipped if adapt is not None else 0,
        "fine_tunes_skipped": adapt.skipped if adapt is not None else 0,  # no window free of flagged rows
        "rss_mib_by_quarter": rss,
    }


def one_fine_tune(det: RNNAnomalyDetector, df: pd.DataFrame, repeats: int = 20) -> dict[str, float]:
    """Milliseconds of one fine-tune through the Trainer, and of a bare loop over the same windows."""
    det.flush()
    det.update(df.iloc[: det.adapt_rows])  # fills the kept rows (adapt_every is larger: no adaptation yet)
    stream, adapt = det._stream.adapt, det._check_adapt()
    t0 = time.perf_counter()
    for _ in range(repeats):
        adapt.fine_tune(stream)
    trainer_ms = 1000 * (time.perf_counter() - t0) / repeats
    loss, module = det._loss(), stream.module
    L, H = det._scorer().window_shape()
    values = torch.from_numpy(stream.rows)
    starts = np.arange(len(values) - L - H + 1)
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for _ in range(repeats):
        opt = torch.optim.Adam(module.parameters(), lr=det.lr)
        module.train()
        for _ in range(det.adapt_steps):
            s = torch.from_numpy(rng.choice(starts, det.batch_size, replace=False))
            w = values[s[:, None] + torch.arange(L + H)]
            opt.zero_grad()
            loss(module, (w[:, :L], w[:, L:])).backward()
            torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
            opt.step()
        module.eval()
    bare_ms = 1000 * (time.perf_counter() - t0) / repeats
    det.flush()
    return {"fine_tune_ms_trainer": round(trainer_ms, 2), "fine_tune_ms_bare_loop": round(bare_ms, 2)}


def precision_ab(det: RNNAnomalyDetector, df: pd.DataFrame, rounds: int = 8) -> dict[str, float]:
    """On a CPU with native bf16: one fine-tune and the scoring of 100 windows (what a chunk of 100
    rows costs the networks), fp32 and bf16 alternately on the same weights and rows, medians in ms."""
    from tsrnn.training import cpu_has_bf16

    if not cpu_has_bf16():
        return {}
    det.flush()
    det.update(df.iloc[: det.adapt_rows])
    stream, adapt, scorer = det._stream.adapt, det._check_adapt(), det._scorer()
    start = copy.deepcopy(stream.module.state_dict())
    width = sum(scorer.window_shape())
    windows = np.lib.stride_tricks.sliding_window_view(stream.rows, (width, stream.rows.shape[1]))[:100, 0]
    times: dict[str, list[tuple[float, float]]] = {"fp32": [], "bf16": []}
    kept = det.precision
    for _ in range(rounds):
        for precision in times:
            det.precision = precision  # read by every fine-tune and forward pass
            stream.module.load_state_dict(start)
            t0 = time.perf_counter()
            for _ in range(5):
                adapt.fine_tune(stream)
            tune = (time.perf_counter() - t0) / 5
            t0 = time.perf_counter()
            for _ in range(10):
                det._infer(lambda w: scorer.window_errors(stream.module, w), windows)
            times[precision].append((1000 * tune, 1000 * (time.perf_counter() - t0) / 10))
    det.precision = kept
    det.flush()
    out = {}
    for precision, v in times.items():
        out[f"fine_tune_ms_{precision}"] = round(float(np.median([t for t, _ in v])), 2)
        out[f"score_100_windows_ms_{precision}"] = round(float(np.median([s for _, s in v])), 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=100)
    parser.add_argument("--rows-chunk1", type=int, default=5_000)
    parser.add_argument("--every", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--param", action="append", default=[], help="detector parameter k=v (repeatable)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    params = {"epochs": args.epochs, "random_state": 0, "device": "cpu", **parse_params(args.param, parser)}
    params.pop("adapt_every", None)  # set below, one value at a time
    det = RNNAnomalyDetector(**params).fit(frame(2000, 0))
    df = frame(args.rows, 1, shift_at=args.rows // 2)
    out: dict = {"rows": args.rows, "chunk": args.chunk, "params": det.record_params()}
    tuned = {k: getattr(det, k) for k in adaptation.PARAMS}  # as given: the off run refuses them, so reset there
    det.set_params(adapt_every=None, **{k: RNNAnomalyDetector().get_params()[k] for k in adaptation.PARAMS})
    out["off"] = stream_speed(det, df, args.chunk)
    det.set_params(**tuned)
    for every in args.every:
        det.set_params(adapt_every=every)
        out[f"adapt_every={every}"] = stream_speed(det, df, args.chunk)
    det.set_params(adapt_every=args.every[0])
    out[f"chunk=1, adapt_every={args.every[0]}, {args.rows_chunk1} rows"] = stream_speed(
        det, df.iloc[: args.rows_chunk1], 1
    )
    det.set_params(adapt_every=10 * len(df))
    out.update(one_fine_tune(det, df))
    out["precision_ab"] = precision_ab(det, df)
    out["adapt_rows"], out["adapt_steps"] = det.adapt_rows, det.adapt_steps
    out["machine"] = machine()
    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    (ROOT / "bench" / "results" / "stream_speed.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out))


if __name__ == "__main__":
    main()

"""What keeping the detector learning while it streams costs: rows/s of ``update()``.

A default-sized forecast detector (lookback 64, hidden 32; ``--epochs`` short, speed does not
depend on it) is fitted on 2,000 rows of a noisy two-channel sine, then ``--rows`` further rows
(with a level shift half-way) are streamed through ``update()`` in chunks of ``--chunk``, with
adaptation off and with ``adapt_every`` each of ``--every`` (default adapt_rows 512 and
adapt_steps 5). One fine-tune is also timed on its own: through ``tsrnn.training.Trainer`` (what
the detector does) and through a bare five-step loop over the same batches (what reusing the
Trainer costs on top).

    python bench/stream_speed.py                 # one torch thread, 20,000 rows, chunks of 100

It prints one JSON object (also written to bench/results/stream_speed.json). Timings depend on
the machine and its load: compare figures taken on the same machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from speed import machine  # noqa: E402

from tsrnn import RNNAnomalyDetector  # noqa: E402


def frame(n: int, seed: int, shift_at: int | None = None) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    a = np.sin(2 * np.pi * t / 24) + 0.05 * rng.normal(size=n)
    if shift_at is not None:
        a[shift_at:] += 1.0
    b = np.cos(2 * np.pi * t / 24) + 0.05 * rng.normal(size=n)
    return pd.DataFrame({"time": pd.date_range("2024-01-01", periods=n, freq="min"), "a": a, "b": b})


def stream_speed(det: RNNAnomalyDetector, df: pd.DataFrame, chunk: int) -> tuple[float, float]:
    """(rows/s of update over df in chunks, share of flagged rows)."""
    det.flush()
    flagged = 0
    t0 = time.perf_counter()
    for i in range(0, len(df), chunk):
        flagged += int(det.update(df.iloc[i : i + chunk])["is_anomaly"].sum())
    seconds = time.perf_counter() - t0
    det.flush()
    return len(df) / seconds, flagged / len(df)


def one_fine_tune(det: RNNAnomalyDetector, df: pd.DataFrame, repeats: int = 20) -> dict[str, float]:
    """Milliseconds of one fine-tune through the Trainer, and of a bare loop over the same windows."""
    det.flush()
    det.update(df.iloc[: det.adapt_rows])  # fills the kept rows (adapt_every is larger: no adaptation yet)
    stream = det._stream
    t0 = time.perf_counter()
    for _ in range(repeats):
        det._adapt(stream)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--chunk", type=int, default=100)
    parser.add_argument("--every", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    det = RNNAnomalyDetector(epochs=args.epochs, random_state=0, device="cpu").fit(frame(2000, 0))
    df = frame(args.rows, 1, shift_at=args.rows // 2)
    rows_s, flagged = stream_speed(det, df, args.chunk)
    out: dict = {"rows": args.rows, "chunk": args.chunk, "off": {"rows_per_s": round(rows_s), "flagged": flagged}}
    for every in args.every:
        det.set_params(adapt_every=every)
        rows_s, flagged = stream_speed(det, df, args.chunk)
        out[f"adapt_every={every}"] = {"rows_per_s": round(rows_s), "flagged": round(flagged, 4)}
    det.set_params(adapt_every=10 * len(df))
    out.update(one_fine_tune(det, df))
    out["adapt_rows"], out["adapt_steps"] = det.adapt_rows, det.adapt_steps
    out["machine"] = machine()
    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    (ROOT / "bench" / "results" / "stream_speed.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out))


if __name__ == "__main__":
    main()

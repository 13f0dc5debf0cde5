"""The Darts side of ``bench/inference.py``; run by it in Darts' own virtual environment.

Darts ``BlockRNNModel`` (LSTM, the same size as the tsrnn side: ``--hidden`` units, ``--layers``
layers, a Linear layer from the last hidden state to all lookback x channels outputs), trained
for ``--epochs`` on at most ``--max-samples`` training windows of the standardized ETTh2 train
split, then ``historical_forecasts(retrain=False, last_points_only=False, stride=1)`` over
every window whose horizon lies in the test split. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data", required=True)
    p.add_argument("--lookback", type=int, default=96)
    p.add_argument("--horizon", type=int, default=96)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--max-samples", type=int, default=1500)
    p.add_argument("--test", type=float, default=0.2)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()

    import darts
    import torch
    from darts import TimeSeries
    from darts.models import BlockRNNModel

    torch.set_num_threads(a.threads)
    df = pd.read_csv(a.data, parse_dates=["date"])
    cols = [c for c in df.columns if c != "date"]
    n = len(df)
    n_test = int(round(n * a.test))
    train_end = n - n_test - int(round(n * 0.1))
    values = df[cols].to_numpy(np.float32)
    mean, std = values[:train_end].mean(0), values[:train_end].std(0)
    scaled = df.assign(**{c: (values[:, i] - mean[i]) / std[i] for i, c in enumerate(cols)})
    series = TimeSeries.from_dataframe(scaled, time_col="date", value_cols=cols, freq="h").astype(np.float32)
    model = BlockRNNModel(
        model="LSTM",
        input_chunk_length=a.lookback,
        output_chunk_length=a.horizon,
        hidden_dim=a.hidden,
        n_rnn_layers=a.layers,
        batch_size=32,
        n_epochs=a.epochs,
        random_state=0,
        pl_trainer_kwargs={"accelerator": "cpu", "enable_progress_bar": False, "enable_model_summary": False},
    )
    t0 = time.perf_counter()
    model.fit(series[:train_end], max_samples_per_ts=a.max_samples, verbose=False)
    fit_s = time.perf_counter() - t0
    params = sum(p.numel() for p in model.model.parameters())
    start = series.time_index[n - n_test]  # the first forecast's first target: the test split's first row
    t0 = time.perf_counter()
    forecasts = model.historical_forecasts(
        series,
        start=start,
        start_format="value",
        forecast_horizon=a.horizon,
        stride=1,
        retrain=False,
        last_points_only=False,
        verbose=False,
    )
    hf_s = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "darts": darts.__version__,
                "torch": torch.__version__,
                "params": params,
                "fit_s": fit_s,
                "historical_forecasts_s": hf_s,
                "forecasts": len(forecasts),
                "first_origin": str(forecasts[0].start_time() - forecasts[0].freq),
                "last_target": str(forecasts[-1].end_time()),
            }
        )
    )


if __name__ == "__main__":
    main()

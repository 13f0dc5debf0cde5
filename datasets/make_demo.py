"""Generate the small files in datasets/ that the README uses.

    python datasets/make_demo.py     # rewrites demo.csv and demo_anomalies.csv (deterministic)

demo.csv (forecasting):

Three channels over 4,032 hours (24 weeks) from 2024-01-01:
- load: daily and weekly cycles, a slow trend and AR(1) noise (an electricity-demand shape);
- temperature: a daily cycle plus slowly drifting weather (a random walk, smoothed);
- solar: a daylight bump scaled by a cloudiness process, zero at night.

demo_anomalies.csv (detection): the same generator (seed 11, 2,016 hours), with four labelled
anomalies injected in the second half and an `anomaly` column (1 inside them): a spike in `load`
(3 hours), a level shift in `temperature` (+8 for 36 hours), a variance change in `load` (noise
x6 for 48 hours) and a missing daily cycle in `solar` (a flat day).

Made only with numpy and pandas; no outside data, so no licence applies beyond the project's.
"""

from pathlib import Path

import numpy as np
import pandas as pd


def make(n: int = 4032, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    hour, day = t % 24, (t // 24) % 7
    ar = np.zeros(n)
    eps = rng.normal(0, 1.0, n)
    for i in range(1, n):
        ar[i] = 0.8 * ar[i - 1] + eps[i]
    weather = np.convolve(np.cumsum(rng.normal(0, 0.3, n)), np.ones(48) / 48, mode="same")
    temperature = 8 + 6 * np.sin(2 * np.pi * (hour - 9) / 24) + weather + 0.01 * t / 24
    load = (
        100
        + 0.02 * t / 24
        + 18 * np.sin(2 * np.pi * (hour - 7) / 24)
        + 8 * np.sin(4 * np.pi * hour / 24)
        - 12 * (day >= 5)
        - 0.8 * temperature
        + 2.0 * ar
    )
    clouds = np.clip(0.5 + np.convolve(rng.normal(0, 1, n), np.ones(12) / 4, mode="same"), 0, 1)
    solar = np.clip(np.sin(np.pi * (hour - 6) / 12), 0, None) * 50 * (1 - 0.7 * clouds)
    return pd.DataFrame(
        {
            "time": pd.date_range("2024-01-01", periods=n, freq="h"),
            "load": load.round(3),
            "temperature": temperature.round(3),
            "solar": solar.round(3),
        }
    )


def make_anomalies(n: int = 2016, seed: int = 11) -> pd.DataFrame:
    df = make(n, seed)
    rng = np.random.default_rng(seed)
    label = np.zeros(n, dtype=int)
    spike, shift, noisy, flat = 1300, 1500, 1700, 1896  # all after the first half, which stays normal
    df.loc[spike : spike + 2, "load"] += 45
    label[spike : spike + 3] = 1
    df.loc[shift : shift + 35, "temperature"] += 8
    label[shift : shift + 36] = 1
    df.loc[noisy : noisy + 47, "load"] += rng.normal(0, 12, 48)
    label[noisy : noisy + 48] = 1
    df.loc[flat : flat + 23, "solar"] = 0.0
    label[flat : flat + 24] = 1
    df[["load", "temperature", "solar"]] = df[["load", "temperature", "solar"]].round(3)
    df["anomaly"] = label
    return df


if __name__ == "__main__":
    here = Path(__file__).parent
    make().to_csv(here / "demo.csv", index=False)
    make_anomalies().to_csv(here / "demo_anomalies.csv", index=False)
    print(f"wrote {here / 'demo.csv'} and {here / 'demo_anomalies.csv'}")

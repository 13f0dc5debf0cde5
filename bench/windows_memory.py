"""Peak memory of tsrnn's lazy windows over a large series: one training epoch, nothing materialised.

Builds ``--steps`` time steps x ``--channels`` float32 channels with numpy (a cheap deterministic
signal; 10 million x 8 = 320 MB by default), wraps them with ``tsrnn.data.from_arrays``, indexes
the windows with ``make_windows`` (lookback 512, horizon 96, --val 0.1, --test 0.2) and iterates
one full shuffled epoch over the training windows with ``tsrnn.windows.WindowBatches`` (batch 256)
on ``torch.from_numpy`` of the values (no copy). It reports the peak resident memory
(``ru_maxrss`` and ``VmHWM`` from /proc/self/status) against the target 2 x raw + 300 MB (MB of
10^6 bytes throughout), the wall times, batches per second, and how much memory materialising
the windows would have taken.

Run it from the repository root, in the project's virtual environment::

    python bench/windows_memory.py                  # 10 million steps, 27,342 batches
    python bench/windows_memory.py --steps 1000000  # a smaller run
    python bench/windows_memory.py --threads 1      # torch on one thread

The epoch is most of the time: 2-13 minutes on a 2-core machine, depending on its load and on
the torch thread count. Below about 5 million steps the target fails by construction: Python
with numpy, pandas and torch already takes some 290 MB before any data.

It prints a table, then the same figures as one JSON object on the last line. The exit status is
1 when the peak is over the target. Run nothing else in the same process: ``ru_maxrss`` is the
peak of the whole process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time

MB = 1_000_000  # megabytes of 10^6 bytes: 10 million x 8 float32 = 320 MB


def proc_status_mb(field: str) -> float:
    """A memory field of /proc/self/status (VmRSS, VmHWM) in MB; nan where there is none."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024 / MB  # the kernel's "kB" are KiB
    except OSError:
        pass
    return float("nan")


def maxrss_mb() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / MB if sys.platform == "darwin" else r * 1024 / MB  # bytes on macOS, KiB on Linux


def build_values(steps: int, channels: int):
    """(steps, channels) float32: a sine of a different period per channel plus a slow ramp."""
    import numpy as np

    values = np.empty((steps, channels), dtype=np.float32)
    chunk = 1 << 20  # fill in chunks so that float64 temporaries stay small
    for lo in range(0, steps, chunk):
        hi = min(lo + chunk, steps)
        t = np.arange(lo, hi, dtype=np.float64)
        for c in range(channels):
            values[lo:hi, c] = np.sin(t * (2 * np.pi / (24.0 * (c + 1)))) + 1e-3 * (t % 1000.0) + c
    return values


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--steps", type=int, default=10_000_000, help="time steps (default 10,000,000)")
    p.add_argument("--channels", type=int, default=8)
    p.add_argument("--lookback", type=int, default=512)
    p.add_argument("--horizon", type=int, default=96)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's own choice)")
    args = p.parse_args(argv)

    t_start = time.perf_counter()
    import numpy as np

    from tsrnn.data import from_arrays

    raw = build_values(args.steps, args.channels)
    raw_mb = raw.nbytes / MB
    data = from_arrays(raw, freq="min")  # minutes: 10 million hours would not fit datetime64[ns]
    del raw  # from_arrays keeps its own float32 copy
    t_built = time.perf_counter()
    hwm_after_build = proc_status_mb("VmHWM")

    import torch  # after the data is built: the transient copy in from_arrays and torch do not add up

    from tsrnn.windows import WindowBatches, make_windows

    if args.threads:
        torch.set_num_threads(args.threads)
    t_imported = time.perf_counter()
    w = make_windows(data, args.lookback, args.horizon, stride=1, val=0.1, test=0.2)
    t_indexed = time.perf_counter()
    values = torch.from_numpy(data.values)
    assert values.data_ptr() == data.values.ctypes.data, "torch.from_numpy copied the data"
    rss_before_epoch = proc_status_mb("VmRSS")

    batches = windows = 0
    probe = 0.0
    t0 = time.perf_counter()
    train = WindowBatches(values, w.train, args.channels, args.batch_size, shuffle=True, seed=args.seed)
    for x, y in train.epoch(1):  # the batches the trainer gets
        batches += 1
        windows += len(x)
        probe += float(x[0, 0, 0]) + float(y[-1, -1, -1])  # touch every batch
    epoch_s = time.perf_counter() - t0
    assert windows == len(w.train)

    peak_ru, peak_hwm = maxrss_mb(), proc_status_mb("VmHWM")
    peak = max(peak_ru, peak_hwm if peak_hwm == peak_hwm else 0.0)
    target = 2 * raw_mb + 300
    window_bytes = (args.lookback + args.horizon) * args.channels * data.values.itemsize
    counts = w.counts()
    result = {
        "steps": args.steps,
        "channels": args.channels,
        "lookback": args.lookback,
        "horizon": args.horizon,
        "batch_size": args.batch_size,
        "raw_mb": round(raw_mb, 1),
        "peak_rss_mb": round(peak, 1),
        "ru_maxrss_mb": round(peak_ru, 1),
        "vm_hwm_mb": round(peak_hwm, 1),
        "vm_hwm_after_build_mb": round(hwm_after_build, 1),
        "rss_before_epoch_mb": round(rss_before_epoch, 1),
        "target_mb": round(target, 1),
        "passed": peak <= target,
        "windows": counts,
        "batches": batches,
        "build_s": round(t_built - t_start, 2),
        "import_torch_s": round(t_imported - t_built, 2),
        "make_windows_s": round(t_indexed - t_imported, 3),
        "epoch_s": round(epoch_s, 2),
        "batches_per_s": round(batches / epoch_s, 1),
        "windows_per_s": round(windows / epoch_s),
        "index_mb": round(sum(getattr(w, s).starts.nbytes for s in ("train", "val", "test")) / MB, 1),
        "materialised_train_windows_mb": round(counts["train"] * window_bytes / MB, 1),
        "materialised_all_windows_mb": round(sum(counts.values()) * window_bytes / MB, 1),
        "torch_threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
    }
    rows = [
        ("raw data", f"{raw_mb:,.1f} MB ({args.steps:,} x {args.channels} float32)"),
        (
            "peak RSS",
            f"{peak:,.1f} MB (ru_maxrss {peak_ru:,.1f}, VmHWM {peak_hwm:,.1f}; "
            f"{hwm_after_build:,.1f} after building the data)",
        ),
        ("target", f"{target:,.1f} MB (2 x raw + 300 MB)"),
        ("result", "PASS" if result["passed"] else "FAIL"),
        (
            "windows",
            f"train {counts['train']:,} / val {counts['val']:,} / test {counts['test']:,} "
            f"(L={args.lookback}, H={args.horizon})",
        ),
        ("window index", f"{result['index_mb']:,.1f} MB of int64 starts"),
        (
            "epoch",
            f"{batches:,} batches of {args.batch_size} in {epoch_s:,.1f} s: "
            f"{result['batches_per_s']:,.1f} batches/s, {result['windows_per_s']:,} windows/s",
        ),
        (
            "avoided",
            f"{result['materialised_train_windows_mb'] / 1024:,.1f} GB to materialise the train windows "
            f"({result['materialised_all_windows_mb'] / 1024:,.1f} GB all splits)",
        ),
        (
            "setup",
            f"build {result['build_s']} s, import torch {result['import_torch_s']} s, "
            f"make_windows {result['make_windows_s']} s, torch threads {result['torch_threads']}",
        ),
    ]
    width = max(len(k) for k, _ in rows)
    print("tsrnn lazy windows: peak memory of one epoch")
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")
    print(json.dumps(result))
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())

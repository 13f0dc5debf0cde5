"""Keep learning while scoring: the detector's ``adapt_every``, ``adapt_rows`` and ``adapt_steps``.

Every ``every`` rows scored, a copy of the fitted network that lives in the stream takes
``steps`` optimizer steps (through the one ``Trainer``) on windows of the last ``rows`` rows
that hold no flagged row, so a lasting change of normal behaviour stops scoring high while
anomalies are not learned. A change flagged so densely that ``persist`` fine-tunes in a row find
no such window has lasted ``persist`` x ``every`` rows: it is learned as the new normal rather
than flagged for ever, and the stream's scaled rows are first re-centred on the fit's level (the
median of its scaled training rows), so that a shift of any size starts from a level the model
knows. The fitted ``model_`` and the calibration never change.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from tsrnn.checks import check_int, check_optional_int
from tsrnn.errors import ConfigError

if TYPE_CHECKING:
    import torch

PARAMS = ("adapt_rows", "adapt_steps", "adapt_persist")  # the detector parameters used only with adapt_every


@dataclass
class AdaptState:
    """What a stream carries for adaptation: the network that scores it (a copy of ``model_``,
    fine-tuned as rows arrive), the last <= ``rows`` scaled rows, the flags of those already
    scored (a prefix: a scorer may finalise a row some rows after it arrives), rows since the
    last fine-tune, how many fine-tunes were due, how many of those were skipped (no window free
    of flagged rows) and how many in a row up to now, how many learned from flagged rows, and the
    offset taken off the stream's scaled rows (re-centred when a lasting change is learned)."""

    module: "torch.nn.Module"
    rows: np.ndarray
    flags: np.ndarray
    offset: np.ndarray  # (C,) taken off the stream's scaled rows since a lasting change was learned
    since: int = 0
    adaptations: int = 0
    skipped: int = 0
    in_a_row: int = 0
    accepted: int = 0


class Adaptation:
    """A detector's adaptation settings, checked: its parameters, the (L, H) of its scorer's
    training windows and its loss; the detector's ``device_`` once fitted."""

    def __init__(self, det: Any, window: tuple[int, int], loss: Any) -> None:
        check_int("adapt_every", det.adapt_every, 1, hint="rows between adaptations, e.g. adapt_every=512")
        self.det, self.window, self.loss = det, window, loss
        self.every = det.adapt_every
        self.rows = check_int(
            "adapt_rows",
            det.adapt_rows,
            sum(self.window),
            hint=f"a fine-tune needs one window of {sum(self.window)} rows: raise adapt_rows to that or more, "
            "shorten the lookback, or turn adaptation off (adapt_every=None; --adapt-every 0)",
        )
        self.steps = check_int("adapt_steps", det.adapt_steps, 1)
        self.persist = check_optional_int("adapt_persist", det.adapt_persist, 1)
        if det.threshold == "dynamic" and det.normalize == "none":
            raise ConfigError(
                "adapt_every scores in a stream, and the dynamic threshold needs the whole series",
                "use another threshold (spot, pot, quantile, gaussian, conformal) with adapt_every",
            )

    def start(self, model: "torch.nn.Module", n_channels: int) -> AdaptState:
        rows, none = np.empty((0, n_channels), np.float32), np.zeros(n_channels, np.float32)
        return AdaptState(copy.deepcopy(model).eval(), rows, np.zeros(0, bool), none)

    def due(self, state: AdaptState) -> int:
        """Rows to score before the next fine-tune."""
        return self.every - state.since

    def scored(self, state: AdaptState, new: np.ndarray, flags: np.ndarray) -> np.ndarray | None:
        """Take in rows just scored (``new``, re-centred by ``state.offset``) and the flags of the
        rows just made final, then fine-tune if ``every`` rows are complete. Returns the shift by
        which the fine-tune re-centred the rows (the caller moves the scorer's kept rows by it
        too), else None."""
        rows = np.concatenate([state.rows, new])
        known = np.concatenate([state.flags, flags])
        drop = max(0, len(rows) - self.rows)  # never more than the scored ones: rows >= a window
        state.rows, state.flags = rows[drop:], known[drop:]
        state.since += len(new)
        if state.since != self.every:
            return None
        state.since = 0
        return self.fine_tune(state)

    def fine_tune(self, state: AdaptState) -> np.ndarray | None:
        """``steps`` Trainer steps (warm) on windows of the kept rows that hold no flagged (or not
        yet scored) row; none such: no change, unless this is the ``persist``-th fine-tune in a
        row to find none: then the change has lasted: the kept rows are re-centred on the fit's
        level (the shift is returned) and it learns from every scored window. A
        fresh optimizer at the fit's ``lr``, no schedule, ``weight_decay`` and ``clip_grad_norm``
        as in training, in the detector's precision; seeded by ``random_state`` and the
        fine-tune's number."""
        import torch

        from tsrnn.training import Trainer, resolve_precision
        from tsrnn.windows import WindowBatches, WindowIndex

        det, (L, H) = self.det, self.window
        number = state.adaptations
        state.adaptations += 1
        width = L + H
        bad = np.concatenate([[0], np.cumsum(state.flags)])  # flagged rows among the scored prefix
        n_starts = len(state.flags) - width + 1
        starts = np.flatnonzero(bad[width : width + n_starts] - bad[: max(0, n_starts)] == 0) if n_starts > 0 else []
        shift = None
        if len(starts) == 0 and n_starts > 0 and self.persist is not None and state.in_a_row + 1 >= self.persist:
            starts = np.arange(n_starts)  # flagged for persist fine-tunes in a row: the new normal
            state.accepted += 1
            shift = (np.median(state.rows[: len(state.flags)], axis=0) - det.level_).astype(np.float32)
            state.rows = state.rows - shift  # (rows, C): from the level the change moved to, to the fit's
            state.offset = state.offset + shift
        if len(starts) == 0:
            state.skipped += 1
            state.in_a_row += 1
            return None
        state.in_a_row = 0
        seed = (det.random_state or 0, number)
        rng = np.random.default_rng(seed)
        size = min(det.batch_size, len(starts))
        drawn = np.concatenate([rng.choice(starts, size, replace=False) for _ in range(self.steps)])
        device = det.device_
        precision = "bf16" if resolve_precision(det.precision, device, strict=False) is not None else "fp32"
        values = torch.from_numpy(state.rows).to(device)
        batches = WindowBatches(values, WindowIndex(drawn.astype(np.int64), L, H), values.shape[1], size)
        config = dataclasses.replace(  # the fit's optimizer, lr, decay and clipping; one epoch, no schedule
            det._train_config(), epochs=1, lr_schedule="none", device=str(device), precision=precision, seed=None
        )
        cuda = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):  # dropout draws its own seeded stream; the caller's is kept
            torch.manual_seed(int(np.random.SeedSequence(seed).generate_state(1)[0]))
            Trainer(state.module, self.loss, config).fit(batches)
        state.module.eval()
        return shift

"""Anomaly detection on one time series: robust z-scores of leave-one-out residuals, or an isolation forest.

``detect_anomalies`` predicts every point from its neighbours alone (after removing a robust STL season, on the log
scale when swings grow with the level, with clear outliers cleaned first) on a regular grid, then scores each input
row by how far it sits from that prediction against a robust, locally widened scale. Rows keep the caller's index,
order and length.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.ensemble import IsolationForest
from statsmodels.tsa.seasonal import STL

from analytics_hub.ml.errors import AnalyticsError
from analytics_hub.ml.series import infer_season_length, regular_series, time_index

Z_THRESHOLD = 3.5  # Iglewicz & Hoaglin's cut-off for the modified (robust) z-score
HALF_WIDTHS = (1, 2, 3, 5, 8)  # candidate neighbours per side a point is predicted from (the steadiest is used)
SKIPS = ((0, 0), (1, 0), (0, 1))  # neighbours left out on (left, right): none, or a possible burst partner
MAX_PASSES = 10  # rounds of clearing outliers before the final scores
PEAK_SPACING = 2  # a round clears only the highest score within this many cells: a spike's neighbours wait
SCALE_WINDOW = 25  # points around a residual whose spread it must also stand out from
MIN_CYCLES = 3  # a cycle without a calendar season must repeat this often to be used
MIN_CYCLE_ACF = 0.5  # autocorrelation at the cycle length that counts as a clear cycle
MIN_PHASE_CYCLES = 8  # cycles needed before each phase of the season gets its own residual scale
TAIL_QUANTILE = 0.9  # quantile of absolute residuals the overall scale is read from
LEVEL_BLOCKS = 8  # blocks compared to tell whether swings grow with the level
MIN_POINTS = 4  # fewer usable points than this cannot show an outlier: nothing is flagged
SEASON_SMOOTHER = 25  # cycles the STL season is smoothed over: a point's own noise barely moves its season
STL_ROBUST_PASSES = 3  # robustness reweightings of STL: enough for a few percent of outliers, and 4x faster than 15
MAX_GRID_STRETCH = 4  # a regular grid may hold at most this many times the observed points (else: observed order)
_NORMAL_MAD = 1.4826  # MAD -> standard deviation for normal data
_NORMAL_QUANTILE_SCALE = {0.75: 1.1503, 0.9: 1.6449}  # q-quantile of |deviation| / sd for normal data
_NORMAL_MEAN_AD = 1.2533  # mean absolute deviation -> standard deviation for normal data


class AnomalyInputError(AnalyticsError):
    """The series or an option given to the anomaly detector cannot be used."""


@dataclass(frozen=True)
class PreparedSeries:
    """One series ready to score: per-row values and grid positions, and the regular grid the fit runs on."""

    values: np.ndarray  # per input row (caller's order); NaN when missing or when the row has no position
    row_x: np.ndarray  # per input row: position on the grid's axis (NaN when unknown)
    grid_x: np.ndarray  # increasing positions of the regular grid
    grid_values: np.ndarray  # values on the grid, gaps interpolated
    season_length: int | None  # None when the series is non-seasonal or too short for two seasons
    week_length: int | None = None  # grid steps in a week when the grid is dated below daily steps


@dataclass(frozen=True)
class Expectation:
    """Per input row: the expected value (``fitted``), its trend part (``level``) and the robust z-score of the row."""

    fitted: np.ndarray
    level: np.ndarray
    score: np.ndarray


def detect_anomalies(y: pd.Series, *, season_length: int | None = None, method: str = "auto") -> pd.DataFrame:
    """Flag unusual points of ``y``: a frame with the same index as ``y`` and columns ``is_anomaly`` and ``score``.

    ``score`` is higher for more unusual points (NaN where the value is missing; those rows are never anomalies).
    """
    detector = _DETECTORS.get(method)
    if detector is None:
        raise AnomalyInputError(
            f"Unknown anomaly detection method '{method}'. Valid methods: {', '.join(sorted(_DETECTORS))}.",
            detail=f"method={method!r}",
        )
    prepared = prepare_series(y, season_length=season_length)
    is_anomaly = np.zeros(len(prepared.values), dtype=bool)
    score = np.where(np.isnan(prepared.values), np.nan, 0.0)
    usable = ~np.isnan(prepared.values)
    if usable.sum() >= MIN_POINTS and np.ptp(prepared.values[usable]) > 0:
        is_anomaly, score = detector(prepared)
        is_anomaly = is_anomaly & usable
        score = np.where(usable, score, np.nan)
    return pd.DataFrame({"is_anomaly": is_anomaly, "score": score}, index=y.index)


def prepare_series(y: pd.Series, *, season_length: int | None = None) -> PreparedSeries:
    """Validate ``y`` and lay it on a regular grid (dates at their frequency, numbers at their step, else order)."""
    if not isinstance(y, pd.Series):
        raise AnomalyInputError("Expected a pandas Series of values.", detail=f"got {type(y).__name__}")
    if len(y) == 0:
        raise AnomalyInputError("The series is empty: there is nothing to check for anomalies.")
    if season_length is not None and (not isinstance(season_length, (int, np.integer)) or season_length < 1):
        raise AnomalyInputError(
            "The season length must be a whole number of at least 1.", detail=f"season_length={season_length!r}"
        )
    values = pd.to_numeric(pd.Series(np.asarray(y), dtype=object), errors="coerce").to_numpy(dtype=float, copy=True)
    values[~np.isfinite(values)] = np.nan
    if np.isnan(values).all():
        raise AnomalyInputError("The series has no numeric values.", detail=f"dtype={y.dtype}, length={len(y)}")
    row_x, grid_x, grid_values, inferred, week = _lay_on_grid(time_index(y.index), values)
    values = np.where(np.isnan(row_x), np.nan, values)
    season = inferred if season_length is None else int(season_length)
    if season is not None and (season < 2 or len(grid_values) < 2 * season):
        season = None
    return PreparedSeries(values, row_x, grid_x, grid_values, season, week)


def expectation(prepared: PreparedSeries) -> Expectation:
    """Expected value of every row from its neighbours alone (season from robust STL), after clearing outliers.

    Works on the log scale when the series is positive and its swings grow with its level.
    """
    grid = prepared.grid_values
    usable = ~np.isnan(prepared.values)
    use_log = bool(np.min(grid) > 0 and np.min(prepared.values[usable]) > 0 and _swings_grow_with_level(grid))
    work = np.log(grid) if use_log else grid
    period = prepared.season_length if prepared.season_length is not None else cycle_length(work)
    seasonal = _seasonal(work, period)
    observed = np.where(_observed_cells(prepared), work - seasonal, np.nan)
    phase = prepared.week_length if _repeats(prepared.week_length, len(grid)) else period
    level, centre, scale = clean_level(prepared.grid_x, observed, phase)
    row_x = np.where(np.isnan(prepared.row_x), prepared.grid_x[0], prepared.row_x)
    fitted = np.interp(row_x, prepared.grid_x, level + seasonal)
    row_values = np.log(np.where(usable, prepared.values, 1.0)) if use_log else prepared.values
    deviation = np.abs(row_values - fitted - centre)
    deviation = np.where(deviation <= _tolerance(row_values[usable]), 0.0, deviation)
    row_scale = np.interp(row_x, prepared.grid_x, scale)
    score = np.where(row_scale > 0, deviation / np.where(row_scale > 0, row_scale, 1.0), 0.0)
    level_rows = np.interp(row_x, prepared.grid_x, level)
    if use_log:
        fitted, level_rows = np.exp(fitted), np.exp(level_rows)
    return Expectation(fitted=fitted, level=level_rows, score=np.where(usable, score, np.nan))


def clean_level(x: np.ndarray, values: np.ndarray, period: int | None = None) -> tuple[np.ndarray, float, np.ndarray]:
    """Level of each cell from its neighbours once outliers are replaced, the residuals' centre and local scale.

    Each pass replaces the clearest outliers (highest score within ``PEAK_SPACING`` cells, above ``Z_THRESHOLD`` also
    in the first pass, so replacements cannot cascade) by their expected value: a spike no longer pulls on its
    neighbours' level when they are scored again. Scores also use lines that skip one neighbour, so the partner of a
    two-point burst does not hide it.
    """
    half_width = best_half_width(x, values)
    cleaned = values.copy()
    replaced = np.zeros(len(values), dtype=bool)
    first_score = None
    for _ in range(MAX_PASSES):
        predictions = np.stack([local_line(x, cleaned, half_width, skip=skip) for skip in SKIPS])
        centre, scale = residual_scale(np.where(replaced, np.nan, values - predictions[0]), period)
        scores = np.abs(values - predictions - centre) / np.where(scale > 0, scale, np.inf)
        worst = np.argmax(np.nan_to_num(scores, nan=-np.inf), axis=0)
        score = np.take_along_axis(scores, worst[None, :], axis=0)[0]
        if first_score is None:
            first_score = score
        clearest = _clearest(np.where(replaced | np.isnan(score) | (first_score <= Z_THRESHOLD), -np.inf, score))
        if not clearest.any():
            break
        cleaned[clearest] = np.take_along_axis(predictions, worst[None, :], axis=0)[0][clearest]
        replaced |= clearest
    level = local_line(x, cleaned, half_width)
    centre, scale = residual_scale(values - level, period)
    return level, centre, scale * _end_widening(x, cleaned, half_width)


def _end_widening(x: np.ndarray, values: np.ndarray, half_width: int) -> np.ndarray:
    """Per cell, 1, or at the ends (predicted from one side only) how much worse one-sided lines predict this series."""
    known = np.flatnonzero(~np.isnan(values))
    widening = np.ones(len(values))
    if len(known) < 4 * half_width + 2:
        return widening
    two_sided = values - local_line(x, values, half_width)
    one_sided = values - local_line(x, values, half_width, skip=(0, len(values)))
    spreads = [_tail_scale(np.abs(r[known] - np.nanmedian(r[known]))) for r in (two_sided, one_sided)]
    if spreads[0] > 0:
        ends = (x <= x[known[0]]) | (x >= x[known[-1]])
        widening[ends] = max(1.0, spreads[1] / spreads[0])
    return widening


def best_half_width(x: np.ndarray, values: np.ndarray) -> int:
    """The neighbourhood (points on each side) whose leave-one-out predictions have the smallest robust spread."""
    usable = int(np.sum(~np.isnan(values)))
    candidates = [h for h in HALF_WIDTHS if 2 * h < usable] or [1]
    spreads = []
    for half_width in candidates:
        residuals = values - local_line(x, values, half_width)
        finite = residuals[np.isfinite(residuals)]
        spreads.append(_tail_scale(np.abs(finite - np.median(finite))))
    return candidates[int(np.argmin(spreads))]


def local_line(x: np.ndarray, values: np.ndarray, half_width: int, *, skip: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Each cell predicted from its ``half_width`` nearest known neighbours on each side (never itself).

    The prediction is the median of the lines through one left and one right neighbour, so it follows a local trend
    and ignores a neighbour or two that are themselves unusual; at an end, lines through two same-side neighbours.
    ``skip`` leaves out that many nearest neighbours on the left and on the right.
    """
    known = ~np.isnan(values)
    px, pv = x[known], values[known]
    offsets = np.arange(half_width)
    left = np.searchsorted(px, x, side="left")[:, None] - 1 - skip[0] - offsets
    right = np.searchsorted(px, x, side="right")[:, None] + skip[1] + offsets
    lx, lv = _take(px, pv, left)
    rx, rv = _take(px, pv, right)
    with np.errstate(invalid="ignore", divide="ignore"):
        lines = lv[:, :, None] + (rv[:, None, :] - lv[:, :, None]) * (
            (x[:, None, None] - lx[:, :, None]) / (rx[:, None, :] - lx[:, :, None])
        )
    lines = lines.reshape(len(x), -1)
    one_sided = np.isnan(lx[:, 0]) | np.isnan(rx[:, 0])
    if one_sided.any():
        side_x = np.where(
            np.isnan(lx[:, :1]),
            np.c_[rx, _take(px, pv, right[:, -1:] + 1)[0]],
            np.c_[lx, _take(px, pv, left[:, -1:] - 1)[0]],
        )
        side_v = np.where(
            np.isnan(lx[:, :1]),
            np.c_[rv, _take(px, pv, right[:, -1:] + 1)[1]],
            np.c_[lv, _take(px, pv, left[:, -1:] - 1)[1]],
        )
        first, second = np.triu_indices(half_width + 1, k=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            extrapolated = side_v[:, first] + (side_v[:, second] - side_v[:, first]) * (
                (x[:, None] - side_x[:, first]) / (side_x[:, second] - side_x[:, first])
            )
        width = max(lines.shape[1], extrapolated.shape[1])
        lines = np.pad(lines, ((0, 0), (0, width - lines.shape[1])), constant_values=np.nan)
        extrapolated = np.pad(extrapolated, ((0, 0), (0, width - extrapolated.shape[1])), constant_values=np.nan)
        lines[one_sided] = extrapolated[one_sided]
    empty = np.isnan(lines).all(axis=1)
    lines[empty, 0] = np.interp(x[empty], px, pv)
    return np.nanmedian(lines, axis=1)


def _take(px: np.ndarray, pv: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions and values at ``index``, NaN where the index falls outside the known points."""
    inside = (index >= 0) & (index < len(px))
    clipped = np.clip(index, 0, max(len(px) - 1, 0))
    return np.where(inside, px[clipped], np.nan), np.where(inside, pv[clipped], np.nan)


def residual_scale(residuals: np.ndarray, period: int | None = None) -> tuple[float, np.ndarray]:
    """Centre of the residuals and, per cell, their robust scale: the whole series', raised where the surrounding
    ``SCALE_WINDOW`` cells or the same phase of the season (given ``MIN_PHASE_CYCLES`` cycles) are more volatile."""
    finite = residuals[np.isfinite(residuals)]
    centre = float(np.median(finite))
    deviations = np.abs(residuals - centre)
    deviations = np.where(deviations <= _tolerance(finite), 0.0, deviations)
    overall = _tail_scale(deviations[np.isfinite(deviations)])
    local = pd.Series(deviations).rolling(SCALE_WINDOW, center=True, min_periods=1).median().to_numpy()
    scale = np.fmax(np.full(len(residuals), overall), _NORMAL_MAD * local)
    if _repeats(period, len(residuals)):
        cycles = -(-len(residuals) // period)
        table = np.pad(deviations, (0, cycles * period - len(residuals)), constant_values=np.nan).reshape(
            cycles, period
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            by_phase = np.nanmedian(table, axis=0)
        scale = np.fmax(scale, _NORMAL_MAD * by_phase[np.arange(len(residuals)) % period])
    return centre, np.nan_to_num(scale, nan=overall)


def _tolerance(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return 1e-9 * max(float(np.max(np.abs(finite))) if len(finite) else 0.0, np.finfo(float).tiny)


def _clearest(score: np.ndarray) -> np.ndarray:
    """Cells scoring above ``Z_THRESHOLD`` that also score highest within ``PEAK_SPACING`` cells either side."""
    window = 2 * PEAK_SPACING + 1
    padded = np.pad(score, PEAK_SPACING, constant_values=-np.inf)
    peak = np.lib.stride_tricks.sliding_window_view(padded, window).max(axis=1)
    return (score > Z_THRESHOLD) & (score >= peak)


def _seasonal(values: np.ndarray, period: int | None) -> np.ndarray:
    """Robust STL season of the regular grid (zeros without a period or with fewer than two cycles)."""
    if period is None or period < 2 or len(values) < 2 * period:
        return np.zeros_like(values)
    fit = STL(values, period=period, seasonal=SEASON_SMOOTHER, robust=True).fit(outer_iter=STL_ROBUST_PASSES)
    return np.asarray(fit.seasonal)


def cycle_length(values: np.ndarray) -> int | None:
    """A cycle length read from the autocorrelation of the detrended values: its first peak past the first zero
    crossing, kept only when strong (``MIN_CYCLE_ACF``) and repeated at least ``MIN_CYCLES`` times."""
    n = len(values)
    if n < 4 * MIN_CYCLES:
        return None
    steps = np.arange(n)
    detrended = values - np.polyval(np.polyfit(steps, values, 1), steps)
    centred = detrended - detrended.mean()
    denominator = float(np.dot(centred, centred))
    if denominator <= 0:
        return None
    max_lag = n // MIN_CYCLES
    acf = np.array([np.dot(centred[:-lag], centred[lag:]) / denominator for lag in range(1, max_lag + 1)])
    negative = np.flatnonzero(acf < 0)
    if not len(negative):
        return None
    lag = int(negative[0] + np.argmax(acf[negative[0] :])) + 1
    return lag if acf[lag - 1] >= MIN_CYCLE_ACF and lag >= 2 else None


def _swings_grow_with_level(values: np.ndarray) -> bool:
    """Whether step sizes track the level (multiplicative): their spread across blocks is smaller on the log scale."""
    blocks = [block for block in np.array_split(values, LEVEL_BLOCKS) if len(block) >= 4]
    if len(blocks) < 3:
        return False
    raw = [_robust_scale(np.abs(np.diff(block) - np.median(np.diff(block)))) for block in blocks]
    logged = [_robust_scale(np.abs(np.diff(np.log(block)) - np.median(np.diff(np.log(block))))) for block in blocks]
    if min(raw) <= 0 or min(logged) <= 0:
        return False
    return float(np.std(np.log(logged))) < float(np.std(np.log(raw)))


def _observed_cells(prepared: PreparedSeries) -> np.ndarray:
    """Which grid cells hold at least one usable input row (the others were interpolated)."""
    grid_x = prepared.grid_x
    known = prepared.row_x[~np.isnan(prepared.values) & ~np.isnan(prepared.row_x)]
    nearest = np.clip(np.searchsorted(grid_x, known), 1, max(len(grid_x) - 1, 1))
    nearest = np.where(
        np.abs(grid_x[nearest - 1] - known) <= np.abs(grid_x[np.minimum(nearest, len(grid_x) - 1)] - known),
        nearest - 1,
        nearest,
    )
    step = float(np.min(np.diff(grid_x))) if len(grid_x) >= 2 else 1.0
    hit = np.abs(grid_x[nearest] - known) <= 1e-6 * step
    observed = np.zeros(len(grid_x), dtype=bool)
    observed[nearest[hit]] = True
    return observed


def _tail_scale(deviations: np.ndarray) -> float:
    """Standard deviation read from the 90th percentile of absolute deviations: heavy tails widen it, while up to
    a tenth of the points may be outliers without moving it."""
    upper = float(np.quantile(deviations, TAIL_QUANTILE)) if len(deviations) else 0.0
    return upper / _NORMAL_QUANTILE_SCALE[TAIL_QUANTILE] if upper > 0 else _robust_scale(deviations)


def _robust_scale(deviations: np.ndarray) -> float:
    """Standard deviation estimated from absolute deviations: MAD, else upper quantiles, else their mean."""
    if not len(deviations):
        return 0.0
    mad = float(np.median(deviations))
    if mad > 0:
        return _NORMAL_MAD * mad
    for quantile, factor in _NORMAL_QUANTILE_SCALE.items():
        upper = float(np.quantile(deviations, quantile))
        if upper > 0:
            return upper / factor
    return _NORMAL_MEAN_AD * float(np.mean(deviations))


def _detect_residual(prepared: PreparedSeries) -> tuple[np.ndarray, np.ndarray]:
    """Residual detector: robust z-score of value minus expectation; anomalies score above ``Z_THRESHOLD``."""
    score = expectation(prepared).score
    return np.nan_to_num(score, nan=0.0) > Z_THRESHOLD, score


def _detect_isolation_forest(prepared: PreparedSeries) -> tuple[np.ndarray, np.ndarray]:
    """IsolationForest (random_state=0, contamination 'auto') on robustly scaled value, residual and local level."""
    expected = expectation(prepared)
    usable = ~np.isnan(prepared.values)
    features = np.column_stack(
        [prepared.values, prepared.values - expected.fitted, expected.level],
    )[usable]
    features = _robust_standardise(features)
    forest = IsolationForest(n_estimators=200, random_state=0).fit(features)
    is_anomaly = np.zeros(len(prepared.values), dtype=bool)
    score = np.full(len(prepared.values), np.nan)
    is_anomaly[usable] = forest.predict(features) == -1
    score[usable] = -forest.score_samples(features)
    return is_anomaly, score


def _detect_auto(prepared: PreparedSeries) -> tuple[np.ndarray, np.ndarray]:
    """Default: the residual detector (robust to trend, season and the outliers themselves)."""
    return _detect_residual(prepared)


_DETECTORS: dict[str, Callable[[PreparedSeries], tuple[np.ndarray, np.ndarray]]] = {
    "auto": _detect_auto,
    "residual": _detect_residual,
    "isolation_forest": _detect_isolation_forest,
}


def _robust_standardise(features: np.ndarray) -> np.ndarray:
    center = np.median(features, axis=0)
    scale = np.array([_robust_scale(np.abs(column - np.median(column))) for column in features.T])
    return (features - center) / np.where(scale > 0, scale, 1.0)


def _lay_on_grid(
    index: pd.Index, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int | None, int | None]:
    """Row positions, grid positions, grid values, the season the grid's dates imply and the steps in its week."""
    if isinstance(index, pd.DatetimeIndex):
        row_x = index.as_unit("ns").asi8.astype(float)
        row_x[index.isna()] = np.nan
        dated = ~np.isnan(row_x)
        usable = dated & ~np.isnan(values)
        if usable.sum() >= 3 and _date_grid_is_small(index[dated]):
            grid = regular_series(pd.Series(values[dated], index=index[dated]))
            grid_x = grid.index.as_unit("ns").asi8.astype(float)
            return row_x, grid_x, grid.to_numpy(dtype=float), _date_season(grid.index), _week_steps(grid.index)
        return (row_x, *_numeric_grid(row_x[usable], values[usable]), None, None)
    if pd.api.types.is_numeric_dtype(index.dtype) and not pd.api.types.is_bool_dtype(index.dtype):
        row_x = index.to_numpy(dtype=float, na_value=np.nan)
    else:
        row_x = np.arange(len(index), dtype=float)
    usable = ~np.isnan(row_x) & ~np.isnan(values)
    return (row_x, *_numeric_grid(row_x[usable], values[usable]), None, None)


def _week_steps(index: pd.DatetimeIndex) -> int | None:
    """Steps in a week for a grid finer than daily (its weekly pattern, e.g. weekends, sits on top of the daily one)."""
    step = index[1] - index[0] if len(index) >= 2 else None
    week = pd.Timedelta(days=7)
    if step is not None and pd.Timedelta(0) < step < pd.Timedelta(days=1) and week % step == pd.Timedelta(0):
        return int(week / step)
    return None


def _repeats(period: int | None, length: int) -> bool:
    """Whether a cycle of ``period`` steps repeats ``MIN_PHASE_CYCLES`` times in ``length`` steps."""
    return period is not None and period >= 2 and length >= MIN_PHASE_CYCLES * period


def _date_season(index: pd.DatetimeIndex) -> int | None:
    """The season of a regular date grid: a day's worth of steps below daily, else ``infer_season_length``.

    Works around ``infer_season_length`` for sub-hourly steps (30 minutes gives 2) and day-multiple steps ("7D").
    """
    step = index[1] - index[0] if len(index) >= 2 else None
    day, week = pd.Timedelta(days=1), pd.Timedelta(days=7)
    if step is not None and pd.Timedelta(0) < step < day and day % step == pd.Timedelta(0):
        return int(day / step)
    inferred = infer_season_length(index)
    if inferred is None and step == week:
        return 52
    if inferred is None and step == day:
        return 7
    return inferred


def _date_grid_is_small(index: pd.DatetimeIndex) -> bool:
    """Whether spreading these dates on their typical step stays within ``MAX_GRID_STRETCH`` times their count."""
    stamps = np.unique(index.as_unit("ns").asi8)
    steps = np.diff(stamps)
    if not len(steps):
        return False
    return (stamps[-1] - stamps[0]) / np.median(steps) <= MAX_GRID_STRETCH * len(stamps)


def _numeric_grid(x: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean value per distinct position, spread on the smallest step when positions are multiples of it."""
    frame = pd.DataFrame({"x": x, "value": values}).groupby("x", sort=True)["value"].mean()
    grid_x, grid_values = frame.index.to_numpy(dtype=float), frame.to_numpy(dtype=float)
    if len(grid_x) < 2:
        return grid_x, grid_values
    step = float(np.min(np.diff(grid_x)))
    offsets = (grid_x - grid_x[0]) / step
    size = int(round(offsets[-1])) + 1
    if np.allclose(offsets, np.round(offsets)) and size <= MAX_GRID_STRETCH * len(grid_x):
        full_x = grid_x[0] + step * np.arange(size)
        return full_x, np.interp(full_x, grid_x, grid_values)
    return grid_x, grid_values

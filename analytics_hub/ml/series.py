"""Time-series preparation shared by the forecasting and anomaly engines: order, regular spacing, season length."""

from __future__ import annotations

import datetime as dt
import re
import warnings

import numpy as np
import pandas as pd

from analytics_hub.ml.errors import AnalyticsError

# Season length per pandas frequency family (the first letters of the offset's name).
_DATE_LIKE = re.compile(r"^\s*\d{4}-\d{1,2}-\d{1,2}([T ][0-9:.+\-Z ]*)?\s*$|^\s*\d{1,2}/\d{1,2}/\d{4}\s*$")
MAX_MINUTE_SEASON = 288  # a day of 5-minute points; finer data uses an hourly season
_SEASON_BY_FREQ = {
    "h": 24,  # hours in a day
    "B": 5,  # business days in a week
    "D": 7,  # days in a week
    "W": 52,  # weeks in a year
    "SM": 24,
    "M": 12,  # months in a year (M, ME, MS)
    "Q": 4,  # quarters in a year (Q, QE, QS)
    "BQ": 4,
    "BM": 12,
    "Y": 1,
    "A": 1,
}


def time_index(index: pd.Index) -> pd.Index:
    """``index`` as a DatetimeIndex when its labels are times: periods (their start), ``datetime.date`` objects (what
    PostgreSQL dates arrive as) or date strings; any other index is returned unchanged."""
    if isinstance(index, pd.PeriodIndex):
        return index.to_timestamp()
    if not len(index) or not (pd.api.types.is_object_dtype(index) or pd.api.types.is_string_dtype(index)):
        return index
    labels = [label for label in index if not pd.isna(label)]
    if not labels or not all(isinstance(label, dt.date | str) for label in labels):
        return index
    if any(isinstance(label, str) and not _DATE_LIKE.match(label) for label in labels):
        return index
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "could not infer format": parsed one by one
            parsed = pd.DatetimeIndex(pd.to_datetime(index, errors="raise"))
    except (ValueError, TypeError, OverflowError):
        return index
    return parsed


def infer_season_length(index: pd.Index) -> int | None:
    """The natural season of a datetime index (7 for daily, 12 for monthly, ...), or None when it has none."""
    if not isinstance(index, pd.DatetimeIndex) or len(index) < 3:
        return None
    freq = index.freqstr or infer_frequency(index)
    if freq is None:
        return None
    offset = pd.tseries.frequencies.to_offset(freq)
    base = str(getattr(offset, "rule_code", freq)).split("-")[0].lstrip("0123456789")
    multiple = getattr(offset, "n", 1) or 1
    if base.lower().startswith("min"):
        # Minute data: a day of points when that is a usable season, else an hour of them.
        per_day = 1440 // multiple if 1440 % multiple == 0 else 0
        per_hour = 60 // multiple if 60 % multiple == 0 else 0
        season = per_day if 1 < per_day <= MAX_MINUTE_SEASON else per_hour
        return season if season > 1 else None
    for prefix in sorted(_SEASON_BY_FREQ, key=len, reverse=True):
        if base.upper().startswith(prefix.upper()):
            season = _SEASON_BY_FREQ[prefix]
            if season % multiple == 0 and season // multiple > 1:
                return season // multiple
            return None
    return None


def regular_series(y: pd.Series) -> pd.Series:
    """``y`` as floats in index order, on a regular grid when its index is datetime (gaps interpolated).

    Raises :class:`AnalyticsError` when the series has no usable values.
    """
    if not isinstance(y, pd.Series):
        raise AnalyticsError("Expected a pandas Series of values.")
    values = pd.to_numeric(y, errors="coerce").astype(float)
    values = values[~values.index.isna()] if isinstance(values.index, pd.DatetimeIndex) else values
    values = values.sort_index()
    values = values[~values.index.duplicated(keep="last")]
    if values.notna().sum() == 0:
        raise AnalyticsError("The series has no numeric values.")
    if isinstance(values.index, pd.DatetimeIndex) and len(values) >= 3:
        freq = values.index.freqstr or infer_frequency(values.index) or _median_step(values.index)
        if freq is not None:
            values = values.asfreq(freq)
    if values.isna().any():
        values = values.interpolate(limit_direction="both")
    return values


def future_index(index: pd.Index, horizon: int) -> pd.Index:
    """The ``horizon`` index labels that follow ``index`` (dates at its frequency, else integers)."""
    if isinstance(index, pd.DatetimeIndex) and len(index) >= 2:
        freq = index.freq or infer_frequency(index) or _median_step(index)
        if freq is not None:
            return pd.date_range(index[-1], periods=horizon + 1, freq=freq)[1:]
    if len(index) and np.issubdtype(np.asarray(index).dtype, np.integer):
        start = int(index[-1]) + 1
        return pd.RangeIndex(start, start + horizon)
    return pd.RangeIndex(len(index), len(index) + horizon)


def infer_frequency(index: pd.DatetimeIndex) -> str | None:
    """``pd.infer_freq`` as a string (pandas 3 warns that it will return an offset), or None."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        found = pd.infer_freq(index)
    return getattr(found, "freqstr", found)


def _median_step(index: pd.DatetimeIndex) -> str | pd.Timedelta | None:
    """The typical spacing of an irregular index (whatever its time unit)."""
    steps = index.to_series().diff().dropna()
    steps = steps[steps > pd.Timedelta(0)]
    if not len(steps):
        return None
    step = steps.median()
    for unit, size in (("D", pd.Timedelta(days=1)), ("h", pd.Timedelta(hours=1)), ("min", pd.Timedelta(minutes=1))):
        if step % size == pd.Timedelta(0):
            return f"{step // size}{unit}"
    return step

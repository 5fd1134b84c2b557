"""Checks shared by the models on the frames they fit and score."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd  # type: ignore[import-untyped]

from xinyong.scoring.binning import Dtype
from xinyong.scoring.errors import InvalidScoringDataError, ModelNotFittedError


def training_frame(X: Any, y: Any) -> tuple[pd.DataFrame, npt.NDArray[np.int64]]:
    """Validate a training frame and a 0/1 target (1 = bad)."""
    if not isinstance(X, pd.DataFrame):
        raise InvalidScoringDataError("X must be a pandas DataFrame with named characteristics")
    target = pd.Series(y).reset_index(drop=True)
    if len(target) != len(X):
        raise InvalidScoringDataError(f"X has {len(X)} rows but y has {len(target)}")
    if target.isna().any() or not set(target.unique()) <= {0, 1}:
        raise InvalidScoringDataError("y must hold 0 (good) and 1 (bad) only")
    if target.nunique() < 2:
        raise InvalidScoringDataError("y must hold both goods (0) and bads (1)")
    frame = X.reset_index(drop=True)
    frame.columns = [str(c) for c in frame.columns]
    return frame, target.to_numpy(dtype=np.int64)


def scoring_frame(X: Any, features: Iterable[str]) -> pd.DataFrame:
    """The model's characteristics from ``X`` (a frame, a row mapping or a Series)."""
    if isinstance(X, pd.Series):
        X = X.to_frame().T
    elif isinstance(X, Mapping):
        X = pd.DataFrame([dict(X)])
    if not isinstance(X, pd.DataFrame):
        raise InvalidScoringDataError("X must be a pandas DataFrame, a Series or a mapping")
    wanted = list(features)
    absent = [name for name in wanted if name not in X.columns]
    if absent:
        raise InvalidScoringDataError(
            f"characteristics missing from the data: {', '.join(absent)}", columns=absent
        )
    return X.loc[:, wanted].reset_index(drop=True)


def dtype_of(series: pd.Series, categorical: Iterable[str]) -> Dtype:
    if series.name in set(categorical):
        return "categorical"
    if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
        return "categorical"
    return "numerical"


def require_fitted(model: object, attribute: str) -> None:
    if not hasattr(model, attribute):
        raise ModelNotFittedError(
            f"this {type(model).__name__} is not fitted yet: call fit(X, y) or load an artifact"
        )

"""The WOE scorecard: monotonic bins, logistic regression on WOE, points.

Each characteristic is binned monotonically (:mod:`xinyong.scoring.binning`), replaced by
the weight of evidence of its bin, and a logistic regression of bad on those WOEs gives
``logit(p_bad) = α + Σ βⱼ·WOEⱼ``. With the scaling of :mod:`xinyong.scoring.scaling`
(``ln(odds) = −logit(p_bad)``), the points of bin ``i`` of characteristic ``j`` among ``n``
are (Siddiqi)::

    points_ij = −factor · βⱼ · WOE_ij + (offset − factor · α) / n

rounded to ``points_decimals`` (whole points by default). A score is the sum of the points
of the subject's bins, so the points of each characteristic add up to the score exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import pandas as pd  # type: ignore[import-untyped]

from xinyong.scoring.artifacts import read_artifact, training_digest, write_artifact
from xinyong.scoring.binning import Characteristic, fit_characteristic
from xinyong.scoring.errors import InvalidScoringDataError
from xinyong.scoring.frames import dtype_of, require_fitted, scoring_frame, training_frame
from xinyong.scoring.prohibited import refuse_prohibited
from xinyong.scoring.scaling import Scaling


class WoeScorecard:
    """A points scorecard following the scikit-learn estimator contract.

    ``y`` is 1 for bad and 0 for good. Characteristics whose information value is below
    ``min_iv``, or whose coefficient comes out with the wrong sign (more points for more
    risk), are left out and listed in ``excluded_`` with the reason.
    """

    KIND: ClassVar[str] = "woe_scorecard"

    def __init__(
        self,
        *,
        base_score: float = 600.0,
        base_odds: float = 50.0,
        pdo: float = 20.0,
        categorical_features: Sequence[str] = (),
        monotonic_trend: str = "auto_asc_desc",
        max_n_bins: int | None = None,
        min_bin_size: float | None = None,
        min_iv: float = 0.02,
        C: float = 1.0,
        points_decimals: int | None = 0,
    ) -> None:
        self.base_score = base_score
        self.base_odds = base_odds
        self.pdo = pdo
        self.categorical_features = categorical_features
        self.monotonic_trend = monotonic_trend
        self.max_n_bins = max_n_bins
        self.min_bin_size = min_bin_size
        self.min_iv = min_iv
        self.C = C
        self.points_decimals = points_decimals

    # --- parameters ------------------------------------------------------------------------

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {
            "base_score": self.base_score,
            "base_odds": self.base_odds,
            "pdo": self.pdo,
            "categorical_features": list(self.categorical_features),
            "monotonic_trend": self.monotonic_trend,
            "max_n_bins": self.max_n_bins,
            "min_bin_size": self.min_bin_size,
            "min_iv": self.min_iv,
            "C": self.C,
            "points_decimals": self.points_decimals,
        }

    @property
    def scaling(self) -> Scaling:
        return Scaling(self.base_score, self.base_odds, self.pdo)

    # --- fitting ---------------------------------------------------------------------------

    def fit(self, X: pd.DataFrame, y: Any) -> WoeScorecard:
        """Bin every characteristic, fit the regression and compute the points."""
        refuse_prohibited(map(str, X.columns))
        frame, target = training_frame(X, y)
        excluded: dict[str, str] = {}
        binned: dict[str, Characteristic] = {}
        for name in frame.columns:
            column = frame[name]
            characteristic = fit_characteristic(
                name,
                column,
                target,
                dtype=dtype_of(column, self.categorical_features),
                monotonic_trend=self.monotonic_trend,
                max_n_bins=self.max_n_bins,
                min_bin_size=self.min_bin_size,
            )
            iv = characteristic.information_value
            if iv < self.min_iv:
                excluded[name] = f"information value {iv:.4f} below min_iv {self.min_iv}"
            else:
                binned[name] = characteristic
        woe = {name: c.woe(frame[name]) for name, c in binned.items()}

        # Refit without wrong-signed characteristics: with WOE = ln(good/bad) every
        # coefficient must be negative, or more risk would earn more points.
        while True:
            if not binned:
                raise InvalidScoringDataError(
                    "no characteristic is informative enough to build a scorecard",
                    excluded=excluded,
                )
            names = list(binned)
            matrix = np.column_stack([woe[name] for name in names])
            regression = _logistic_regression(self.C).fit(matrix, target)
            coefficients = [float(c) for c in regression.coef_[0]]
            wrong = [n for n, c in zip(names, coefficients, strict=True) if c >= 0]
            if not wrong:
                break
            for name in wrong:
                excluded[name] = "coefficient has the wrong sign (collinear with others)"
                del binned[name]

        self.feature_names_in_ = list(frame.columns)
        self.features_ = names
        self.characteristics_ = binned
        self.coefficients_ = dict(zip(names, coefficients, strict=True))
        self.intercept_ = float(regression.intercept_[0])
        self.excluded_ = excluded
        self.points_ = self._points_table()
        self.training_digest_ = training_digest(frame, target)
        self.metrics_ = _training_metrics(self, frame, target)
        return self

    def _points_table(self) -> dict[str, list[float]]:
        scaling = self.scaling
        share = (scaling.offset - scaling.factor * self.intercept_) / len(self.features_)
        table: dict[str, list[float]] = {}
        for name in self.features_:
            beta = self.coefficients_[name]
            table[name] = [
                self._round(-scaling.factor * beta * b.woe + share)
                for b in self.characteristics_[name].bins
            ]
        return table

    def _round(self, points: float) -> float:
        if self.points_decimals is None:
            return points
        return float(round(points, self.points_decimals))

    # --- scoring ---------------------------------------------------------------------------

    def points(self, X: Any) -> pd.DataFrame:
        """The points of each characteristic (columns) for each subject (rows)."""
        require_fitted(self, "points_")
        frame = scoring_frame(X, self.features_)
        return pd.DataFrame(
            {
                name: np.asarray(self.points_[name], dtype=float)[
                    self.characteristics_[name].bin_indices(frame[name])
                ]
                for name in self.features_
            },
            columns=self.features_,
        )

    def score(self, X: Any) -> npt.NDArray[np.float64]:
        """The score of each subject: the sum of its characteristics' points."""
        table = self.points(X)
        total = np.zeros(len(table), dtype=float)
        for name in self.features_:  # left to right, the order explain() reports
            total = total + table[name].to_numpy(dtype=float)
        return total

    def explain(self, row: Mapping[str, Any] | pd.Series) -> dict[str, float]:
        """The points of each characteristic for one subject; they sum to its score."""
        table = self.points(row)
        return {name: float(table[name].iloc[0]) for name in self.features_}

    def max_points(self) -> dict[str, float]:
        """The most points each characteristic can give (over its non-empty bins)."""
        require_fitted(self, "points_")
        result: dict[str, float] = {}
        for name in self.features_:
            bins = self.characteristics_[name].bins
            candidates = [p for p, b in zip(self.points_[name], bins, strict=True) if b.count]
            result[name] = max(candidates or self.points_[name])
        return result

    def decision_function(self, X: Any) -> npt.NDArray[np.float64]:
        """``logit(p_bad)`` from the unrounded regression."""
        require_fitted(self, "points_")
        frame = scoring_frame(X, self.features_)
        logit = np.full(len(frame), self.intercept_, dtype=float)
        for name in self.features_:
            logit += self.coefficients_[name] * self.characteristics_[name].woe(frame[name])
        return logit

    def predict_proba(self, X: Any) -> npt.NDArray[np.float64]:
        """Columns: probability of good (0), probability of bad (1)."""
        p_bad = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1.0 - p_bad, p_bad])

    # --- artifacts -------------------------------------------------------------------------

    def to_artifact(self) -> dict[str, Any]:
        require_fitted(self, "points_")
        return {
            "params": self.get_params(),
            "scaling": self.scaling.to_dict(),
            "feature_names_in": self.feature_names_in_,
            "features": self.features_,
            "intercept": self.intercept_,
            "characteristics": [
                {
                    **self.characteristics_[name].to_dict(),
                    "coefficient": self.coefficients_[name],
                    "information_value": self.characteristics_[name].information_value,
                    "points": self.points_[name],
                }
                for name in self.features_
            ],
            "excluded": self.excluded_,
            "training_digest": self.training_digest_,
            "metrics": self.metrics_,
        }

    def save(self, path: str | Path) -> None:
        write_artifact(path, self.KIND, self.to_artifact())

    @classmethod
    def load(cls, path: str | Path) -> WoeScorecard:
        return cls.from_artifact(read_artifact(path, cls.KIND))

    @classmethod
    def from_artifact(cls, document: Mapping[str, Any]) -> WoeScorecard:
        model = cls(**document["params"])
        model.feature_names_in_ = list(document["feature_names_in"])
        model.features_ = list(document["features"])
        model.intercept_ = float(document["intercept"])
        model.characteristics_ = {}
        model.coefficients_ = {}
        model.points_ = {}
        for entry in document["characteristics"]:
            name = str(entry["name"])
            model.characteristics_[name] = Characteristic.from_dict(entry)
            model.coefficients_[name] = float(entry["coefficient"])
            model.points_[name] = [float(p) for p in entry["points"]]
        model.excluded_ = dict(document["excluded"])
        model.training_digest_ = str(document["training_digest"])
        model.metrics_ = dict(document["metrics"])
        return model


def _logistic_regression(C: float) -> Any:
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    return LogisticRegression(C=C, max_iter=1000)


def _training_metrics(
    model: WoeScorecard | Any, frame: pd.DataFrame, target: npt.NDArray[np.int64]
) -> dict[str, float]:
    from sklearn.metrics import roc_auc_score  # type: ignore[import-untyped]

    scores = model.score(frame)
    auc = float(roc_auc_score(target, -scores))
    return {
        "rows": float(len(target)),
        "bad_rate": float(target.mean()),
        "train_auc": auc,
        "train_gini": 2 * auc - 1,
    }


def characteristics_present(row: Mapping[str, Any], features: Iterable[str]) -> list[str]:
    """The characteristics with a value (not missing) in ``row``."""
    present = []
    for name in features:
        value = row.get(name)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        if value is pd.NA or value is pd.NaT:
            continue
        present.append(name)
    return present

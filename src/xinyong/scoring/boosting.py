"""The gradient-boosting challenger: LightGBM with monotone constraints.

Numerical characteristics go to LightGBM as they are (it routes missing values itself);
categorical ones are replaced by the weight of evidence of their monotonic bin, fitted on
the training sample. Each feature carries a monotone constraint on the probability of bad:
``+1`` (rises with the value), ``−1`` (falls) or ``0`` (free). Unless given, a numerical
characteristic's constraint follows the trend of its monotonic binning and a WOE-encoded
one is ``−1`` (a higher WOE means lower risk). The score is the probability of bad put on
the same points scale as the scorecard.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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

_TREND_CONSTRAINT = {"ascending": 1, "descending": -1, "none": 0}


class BoostedModel:
    """A LightGBM classifier following the scikit-learn estimator contract (y: 1 = bad)."""

    KIND: ClassVar[str] = "lightgbm"

    def __init__(
        self,
        *,
        base_score: float = 600.0,
        base_odds: float = 50.0,
        pdo: float = 20.0,
        categorical_features: Sequence[str] = (),
        monotone_constraints: Mapping[str, int] | None = None,
        n_estimators: int = 400,
        learning_rate: float = 0.03,
        num_leaves: int = 15,
        min_child_samples: int = 20,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        reg_lambda: float = 1.0,
        random_state: int = 0,
        trend_mode: str = "auto",
    ) -> None:
        self.base_score = base_score
        self.base_odds = base_odds
        self.pdo = pdo
        self.categorical_features = categorical_features
        self.monotone_constraints = monotone_constraints
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.random_state = random_state
        self.trend_mode = trend_mode

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {
            "base_score": self.base_score,
            "base_odds": self.base_odds,
            "pdo": self.pdo,
            "categorical_features": list(self.categorical_features),
            "monotone_constraints": (
                None if self.monotone_constraints is None else dict(self.monotone_constraints)
            ),
            "n_estimators": self.n_estimators,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree,
            "reg_lambda": self.reg_lambda,
            "random_state": self.random_state,
            "trend_mode": self.trend_mode,
        }

    @property
    def scaling(self) -> Scaling:
        return Scaling(self.base_score, self.base_odds, self.pdo)

    def fit(self, X: pd.DataFrame, y: Any) -> BoostedModel:
        import lightgbm

        refuse_prohibited(map(str, X.columns))
        frame, target = training_frame(X, y)
        given = dict(self.monotone_constraints or {})
        unknown = sorted(set(given) - set(frame.columns))
        if unknown or any(v not in (-1, 0, 1) for v in given.values()):
            raise InvalidScoringDataError(
                "monotone_constraints must map known characteristics to -1, 0 or 1",
                columns=unknown,
            )
        encoders: dict[str, Characteristic] = {}
        constraints: dict[str, int] = {}
        for name in frame.columns:
            dtype = dtype_of(frame[name], self.categorical_features)
            if dtype == "categorical":
                encoders[name] = fit_characteristic(name, frame[name], target, dtype="categorical")
                constraints[name] = given.get(name, -1)
            elif name in given:
                constraints[name] = given[name]
            else:
                trend = fit_characteristic(
                    name, frame[name], target, dtype="numerical", monotonic_trend=self.trend_mode
                ).trend
                constraints[name] = _TREND_CONSTRAINT[trend]

        self.features_ = list(frame.columns)
        self.encoders_ = encoders
        self.constraints_ = constraints
        classifier = lightgbm.LGBMClassifier(
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            num_leaves=self.num_leaves,
            min_child_samples=self.min_child_samples,
            subsample=self.subsample,
            subsample_freq=1,
            colsample_bytree=self.colsample_bytree,
            reg_lambda=self.reg_lambda,
            monotone_constraints=[constraints[n] for n in self.features_],
            monotone_constraints_method="advanced",
            random_state=self.random_state,
            deterministic=True,
            force_row_wise=True,
            n_jobs=1,
            verbose=-1,
        )
        classifier.fit(self._matrix(frame), target)
        self.booster_ = classifier.booster_
        self.training_digest_ = training_digest(frame, target)
        self.metrics_ = self._training_metrics(frame, target)
        return self

    def _matrix(self, frame: pd.DataFrame) -> npt.NDArray[np.float64]:
        columns = []
        for name in self.features_:
            if name in self.encoders_:
                columns.append(self.encoders_[name].woe(frame[name]))
            else:
                columns.append(pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float))
        return np.column_stack(columns)

    def predict_proba(self, X: Any) -> npt.NDArray[np.float64]:
        """Columns: probability of good (0), probability of bad (1)."""
        require_fitted(self, "booster_")
        frame = scoring_frame(X, self.features_)
        p_bad = np.asarray(self.booster_.predict(self._matrix(frame)), dtype=float)
        return np.column_stack([1.0 - p_bad, p_bad])

    def score(self, X: Any) -> npt.NDArray[np.float64]:
        """The probability of bad on the points scale (higher is better)."""
        return self.scaling.score_from_bad_probability(self.predict_proba(X)[:, 1])

    def _training_metrics(
        self, frame: pd.DataFrame, target: npt.NDArray[np.int64]
    ) -> dict[str, float]:
        from sklearn.metrics import roc_auc_score  # type: ignore[import-untyped]

        auc = float(roc_auc_score(target, self.predict_proba(frame)[:, 1]))
        return {
            "rows": float(len(target)),
            "bad_rate": float(target.mean()),
            "train_auc": auc,
            "train_gini": 2 * auc - 1,
        }

    # --- artifacts -------------------------------------------------------------------------

    def to_artifact(self) -> dict[str, Any]:
        require_fitted(self, "booster_")
        return {
            "params": self.get_params(),
            "scaling": self.scaling.to_dict(),
            "features": self.features_,
            "monotone_constraints": self.constraints_,
            "encoders": [
                self.encoders_[n].to_dict() for n in self.features_ if n in self.encoders_
            ],
            "booster": self.booster_.model_to_string(),
            "training_digest": self.training_digest_,
            "metrics": self.metrics_,
        }

    def save(self, path: str | Path) -> None:
        write_artifact(path, self.KIND, self.to_artifact())

    @classmethod
    def load(cls, path: str | Path) -> BoostedModel:
        return cls.from_artifact(read_artifact(path, cls.KIND))

    @classmethod
    def from_artifact(cls, document: Mapping[str, Any]) -> BoostedModel:
        import lightgbm

        model = cls(**document["params"])
        model.features_ = list(document["features"])
        model.constraints_ = {str(k): int(v) for k, v in document["monotone_constraints"].items()}
        model.encoders_ = {
            str(e["name"]): Characteristic.from_dict(e) for e in document["encoders"]
        }
        model.booster_ = lightgbm.Booster(model_str=document["booster"])
        model.training_digest_ = str(document["training_digest"])
        model.metrics_ = dict(document["metrics"])
        return model

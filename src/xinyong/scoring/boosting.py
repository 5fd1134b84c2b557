"""The gradient-boosting challenger: LightGBM with monotone constraints.

Numerical characteristics go to LightGBM as they are (it routes missing values itself);
categorical ones are replaced by the weight of evidence of their monotonic bin, fitted on
the training sample. Each feature carries a monotone constraint on the probability of bad:
``+1`` (rises with the value), ``−1`` (falls) or ``0`` (free). Unless given, a numerical
characteristic's constraint follows the trend of its monotonic binning and a WOE-encoded
one is ``−1`` (a higher WOE means lower risk). The score is the probability of bad put on
the same points scale as the scorecard.

The size of the trees (``num_leaves``) and the number of trees (``n_estimators``) are, by
default, chosen on the training sample alone by an inner stratified cross-validation:
each candidate tree size is boosted on every inner fold in lockstep, with the WOE encoders
refitted on that fold's training part, until the mean validation AUC over the folds has not
improved for ``early_stopping_rounds`` trees; the candidate with the best mean AUC wins, with
the number of trees at which that mean peaked, and the model is refitted on the whole
training sample. Data outside ``fit``'s ``X`` is never looked at. Giving ``num_leaves`` or
``n_estimators`` fixes that value instead.
"""

from __future__ import annotations

import math
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

NUM_LEAVES_CANDIDATES: tuple[int, ...] = (8, 16, 32)
"""The tree sizes the inner cross-validation chooses among when ``num_leaves`` is None."""
FALLBACK_NUM_LEAVES = 8
FALLBACK_N_ESTIMATORS = 100
"""Used, for whichever was not given, when the sample is too small to cross-validate
(fewer than two goods or two bads)."""


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
        n_estimators: int | None = None,
        learning_rate: float = 0.05,
        num_leaves: int | None = None,
        min_child_samples: int = 20,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        reg_lambda: float = 1.0,
        random_state: int = 0,
        trend_mode: str = "auto",
        inner_folds: int = 5,
        max_estimators: int = 2000,
        early_stopping_rounds: int = 100,
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
        self.inner_folds = inner_folds
        self.max_estimators = max_estimators
        self.early_stopping_rounds = early_stopping_rounds

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
            "inner_folds": self.inner_folds,
            "max_estimators": self.max_estimators,
            "early_stopping_rounds": self.early_stopping_rounds,
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
        categorical: list[str] = []
        constraints: dict[str, int] = {}
        for name in frame.columns:
            dtype = dtype_of(frame[name], self.categorical_features)
            if dtype == "categorical":
                categorical.append(name)
                constraints[name] = given.get(name, -1)
            elif name in given:
                constraints[name] = given[name]
            else:
                trend = fit_characteristic(
                    name, frame[name], target, dtype="numerical", monotonic_trend=self.trend_mode
                ).trend
                constraints[name] = _TREND_CONSTRAINT[trend]

        self.features_ = list(frame.columns)
        self.constraints_ = constraints
        self.tuning_ = self._choose(frame, target, categorical)
        self.encoders_ = _fit_encoders(frame, target, categorical)
        train = lightgbm.Dataset(self._matrix(frame), target, params=self._dataset_params())
        self.booster_ = lightgbm.train(
            self._lightgbm_params(int(self.tuning_["num_leaves"])),
            train,
            num_boost_round=int(self.tuning_["n_estimators"]),
        )
        self.training_digest_ = training_digest(frame, target)
        self.metrics_ = self._training_metrics(frame, target)
        return self

    # --- LightGBM parameters and the inner cross-validation --------------------------------

    def _dataset_params(self) -> dict[str, Any]:
        return {"verbose": -1}

    def _lightgbm_params(self, num_leaves: int) -> dict[str, Any]:
        """The booster's parameters (``LGBMClassifier``'s names in comments)."""
        return {
            "objective": "binary",
            "learning_rate": self.learning_rate,
            "num_leaves": num_leaves,
            "min_child_samples": self.min_child_samples,
            "bagging_fraction": self.subsample,  # subsample
            "bagging_freq": 1,
            "feature_fraction": self.colsample_bytree,  # colsample_bytree
            "lambda_l2": self.reg_lambda,  # reg_lambda
            "monotone_constraints": [self.constraints_[n] for n in self.features_],
            "monotone_constraints_method": "advanced",
            "seed": self.random_state,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": 1,
            "verbose": -1,
        }

    def _choose(
        self, frame: pd.DataFrame, target: npt.NDArray[np.int64], categorical: list[str]
    ) -> dict[str, Any]:
        """Tree size and number of trees: as given, or chosen by inner cross-validation."""
        if self.num_leaves is not None and self.n_estimators is not None:
            return {"num_leaves": self.num_leaves, "n_estimators": self.n_estimators}
        from sklearn.model_selection import StratifiedKFold  # type: ignore[import-untyped]

        folds = min(self.inner_folds, int(np.bincount(target).min()))
        if folds < 2:
            return {
                "num_leaves": self.num_leaves or FALLBACK_NUM_LEAVES,
                "n_estimators": self.n_estimators or FALLBACK_N_ESTIMATORS,
                "inner_folds": 0,
            }
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=self.random_state)
        parts = []
        for inner_train, inner_valid in splitter.split(np.zeros(len(target)), target):
            train_frame = frame.iloc[inner_train].reset_index(drop=True)
            valid_frame = frame.iloc[inner_valid].reset_index(drop=True)
            encoders = _fit_encoders(train_frame, target[inner_train], categorical)
            parts.append(
                (
                    self._matrix(train_frame, encoders),
                    target[inner_train],
                    self._matrix(valid_frame, encoders),
                    target[inner_valid],
                )
            )
        candidates = (
            [self.num_leaves] if self.num_leaves is not None else list(NUM_LEAVES_CANDIDATES)
        )
        rounds = self.n_estimators if self.n_estimators is not None else self.max_estimators
        patience = None if self.n_estimators is not None else self.early_stopping_rounds
        results = []
        for leaves in candidates:
            auc, trees = self._inner_curve(parts, leaves, rounds, patience)
            results.append({"num_leaves": leaves, "n_estimators": trees, "inner_auc": auc})
        # The best mean AUC; on a tie, the smaller trees (listed first).
        best = max(results, key=lambda r: float(r["inner_auc"]))
        return {
            "num_leaves": best["num_leaves"],
            "n_estimators": best["n_estimators"],
            "inner_folds": folds,
            "candidates": results,
        }

    def _inner_curve(
        self,
        parts: list[tuple[Any, Any, Any, Any]],
        num_leaves: int,
        rounds: int,
        patience: int | None,
    ) -> tuple[float, int]:
        """Boost every inner fold in lockstep; the best mean validation AUC and its trees."""
        import lightgbm

        params = {**self._lightgbm_params(num_leaves), "metric": "auc"}
        boosters = []
        for X_train, y_train, X_valid, y_valid in parts:
            train = lightgbm.Dataset(X_train, y_train, params=self._dataset_params())
            booster = lightgbm.Booster(params, train)
            booster.add_valid(lightgbm.Dataset(X_valid, y_valid, reference=train), "valid")
            boosters.append(booster)
        best_auc, best_trees = -math.inf, 0
        for trees in range(1, max(rounds, 1) + 1):
            aucs = []
            for booster in boosters:
                booster.update()
                aucs.append(booster.eval_valid()[0][2])
            mean = float(np.mean(aucs))
            # With a fixed number of trees (no patience), the AUC at that number counts.
            if patience is None or mean > best_auc:
                best_auc, best_trees = mean, trees
            elif trees - best_trees >= patience:
                break
        return best_auc, best_trees

    def _matrix(
        self, frame: pd.DataFrame, encoders: Mapping[str, Characteristic] | None = None
    ) -> npt.NDArray[np.float64]:
        encoders = self.encoders_ if encoders is None else encoders
        columns = []
        for name in self.features_:
            if name in encoders:
                columns.append(encoders[name].woe(frame[name]))
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
            "tuning": self.tuning_,
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
        model.tuning_ = dict(document.get("tuning") or {})
        model.training_digest_ = str(document["training_digest"])
        model.metrics_ = dict(document["metrics"])
        return model


def _fit_encoders(
    frame: pd.DataFrame, target: npt.NDArray[np.int64], categorical: Sequence[str]
) -> dict[str, Characteristic]:
    """The WOE encoder (monotonic categorical binning) of each categorical characteristic."""
    return {
        name: fit_characteristic(name, frame[name], target, dtype="categorical")
        for name in categorical
    }

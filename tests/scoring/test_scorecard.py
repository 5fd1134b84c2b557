from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from xinyong.scoring import (
    BoostedModel,
    ModelNotFittedError,
    ProhibitedFeatureError,
    Scaling,
    WoeScorecard,
)
from xinyong.scoring.boosting import NUM_LEAVES_CANDIDATES
from xinyong.scoring.errors import InvalidScoringDataError


@pytest.mark.parametrize("model", [WoeScorecard(), BoostedModel()])
def test_unfitted_models_refuse_to_score(model: WoeScorecard | BoostedModel) -> None:
    frame = pd.DataFrame({"x": [1.0]})
    with pytest.raises(ModelNotFittedError, match="not fitted"):
        model.score(frame)
    with pytest.raises(ModelNotFittedError):
        model.predict_proba(frame)
    with pytest.raises(ModelNotFittedError):
        model.save("unused.json")
    assert ModelNotFittedError.code == "model_not_fitted"


def test_init_only_stores_parameters() -> None:
    model = WoeScorecard(base_score=500, pdo=40)
    assert model.get_params()["base_score"] == 500
    assert not [name for name in vars(model) if name.endswith("_")]


def test_fit_sets_trailing_underscore_attributes(scorecard: WoeScorecard) -> None:
    assert set(scorecard.features_) <= set(scorecard.feature_names_in_)
    assert scorecard.training_digest_.startswith("sha256:")
    assert scorecard.metrics_["train_auc"] > 0.7


def test_the_target_must_be_zero_or_one(credit_data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = credit_data
    with pytest.raises(InvalidScoringDataError, match="0 \\(good\\) and 1 \\(bad\\)"):
        WoeScorecard().fit(X, y + 1)


def test_scoring_needs_every_characteristic(scorecard: WoeScorecard) -> None:
    with pytest.raises(InvalidScoringDataError, match="overdue_months_24m"):
        scorecard.score(pd.DataFrame({"housing": ["own"]}))


def test_numerical_bins_are_monotonic(scorecard: WoeScorecard) -> None:
    for name in ["overdue_months_24m", "credit_utilisation", "age_of_oldest_account_months"]:
        characteristic = scorecard.characteristics_[name]
        woe = [b.woe for b in characteristic.bins[:-1]]  # the last bin is Missing
        assert len(woe) >= 2, name
        steps = np.diff(woe)
        assert (steps <= 0).all() or (steps >= 0).all(), (name, woe)
    # Risk rises with overdue months and falls with the length of history.
    assert scorecard.characteristics_["overdue_months_24m"].trend == "ascending"
    assert scorecard.characteristics_["age_of_oldest_account_months"].trend == "descending"


def test_categorical_characteristics_are_grouped(
    scorecard: WoeScorecard, credit_data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    housing = scorecard.characteristics_["housing"]
    assert housing.dtype == "categorical"
    assert sorted(k for group in housing.groups for k in group) == ["family", "own", "rent"]
    # An unseen category is scored like a missing value.
    row = {**credit_data[0].iloc[0].to_dict(), "housing": "boat"}
    missing_points = scorecard.points_["housing"][housing.missing_index]
    assert scorecard.explain(row)["housing"] == missing_points


def test_points_of_each_characteristic_sum_to_the_score(
    scorecard: WoeScorecard, credit_data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    X, _ = credit_data
    table = scorecard.points(X)
    scores = scorecard.score(X)
    assert np.array_equal(table.sum(axis=1).to_numpy(), scores)
    for i in range(0, len(X), 97):
        explained = scorecard.explain(X.iloc[i])
        assert sum(explained.values()) == scores[i]
        assert all(float(p).is_integer() for p in explained.values())


@settings(max_examples=60, deadline=None)
@given(
    overdue=st.one_of(st.none(), st.integers(0, 30)),
    utilisation=st.one_of(st.none(), st.just(math.nan), st.floats(-1, 5)),
    history=st.one_of(st.none(), st.floats(0, 1000)),
    inquiries=st.one_of(st.none(), st.integers(0, 50)),
    housing=st.one_of(st.none(), st.sampled_from(["own", "rent", "family", "other"])),
)
def test_points_sum_to_the_score_for_any_subject(
    scorecard: WoeScorecard,
    overdue: int | None,
    utilisation: float | None,
    history: float | None,
    inquiries: int | None,
    housing: str | None,
) -> None:
    row = {
        "overdue_months_24m": overdue,
        "credit_utilisation": utilisation,
        "age_of_oldest_account_months": history,
        "hard_inquiries_6m": inquiries,
        "housing": housing,
    }
    explained = scorecard.explain(row)
    assert sum(explained.values()) == scorecard.score(row)[0]
    for name, points in explained.items():
        assert points in scorecard.points_[name]


def test_scaling_formula() -> None:
    scaling = Scaling(base_score=600, base_odds=50, pdo=20)
    assert scaling.factor == pytest.approx(20 / math.log(2))
    assert scaling.offset == pytest.approx(600 - scaling.factor * math.log(50))
    assert scaling.score_from_odds(50) == pytest.approx(600)
    assert scaling.score_from_odds(100) == pytest.approx(620)
    assert scaling.score_from_odds(25) == pytest.approx(580)
    assert scaling.odds_from_score(640) == pytest.approx(200)


def test_unrounded_points_follow_the_scaling(credit_data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = credit_data
    model = WoeScorecard(base_score=500, base_odds=20, pdo=50, points_decimals=None).fit(X, y)
    p_bad = model.predict_proba(X.head(50))[:, 1]
    expected = model.scaling.score_from_bad_probability(p_bad)
    np.testing.assert_allclose(model.score(X.head(50)), expected, rtol=0, atol=1e-9)


def test_scores_rank_risk(
    scorecard: WoeScorecard,
    boosted: BoostedModel,
    holdout: tuple[pd.DataFrame, np.ndarray],
) -> None:
    X, y = holdout
    assert roc_auc_score(y, -scorecard.score(X)) > 0.7
    assert roc_auc_score(y, boosted.predict_proba(X)[:, 1]) > 0.7
    assert roc_auc_score(y, -boosted.score(X)) > 0.7


def test_boosted_constraints_follow_the_trend_or_are_given(
    boosted: BoostedModel, credit_data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    assert boosted.constraints_["overdue_months_24m"] == 1
    assert boosted.constraints_["age_of_oldest_account_months"] == -1
    assert boosted.constraints_["housing"] == -1  # WOE-encoded
    X, y = credit_data
    model = BoostedModel(n_estimators=20, monotone_constraints={"credit_utilisation": 0})
    assert model.fit(X, y).constraints_["credit_utilisation"] == 0
    with pytest.raises(InvalidScoringDataError):
        BoostedModel(monotone_constraints={"nonexistent": 1}).fit(X, y)


@pytest.mark.parametrize("model_class", [WoeScorecard, BoostedModel])
def test_prohibited_features_are_refused(
    model_class: type[WoeScorecard | BoostedModel], credit_data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    X, y = credit_data
    frame = X.assign(personal_status_and_sex="A93", age_years=30, 民族="汉")
    with pytest.raises(ProhibitedFeatureError) as caught:
        model_class().fit(frame, y)
    error = caught.value
    assert error.code == "prohibited_feature"
    assert error.extensions["columns"] == ["personal_status_and_sex", "age_years", "民族"]
    assert "sex" in error.extensions["bases"]["personal_status_and_sex"]
    assert "marital status" in error.extensions["bases"]["personal_status_and_sex"]


def test_boosted_init_only_stores_parameters() -> None:
    model = BoostedModel(num_leaves=4, learning_rate=0.1)
    assert model.get_params()["num_leaves"] == 4
    assert model.get_params()["n_estimators"] is None  # chosen at fit by default
    assert not [name for name in vars(model) if name.endswith("_")]


def test_boosted_chooses_tree_size_and_count_on_the_training_sample(
    credit_data: tuple[pd.DataFrame, np.ndarray], tmp_path: Path
) -> None:
    X, y = credit_data
    model = BoostedModel(max_estimators=60, early_stopping_rounds=15).fit(X, y)
    tuning = model.tuning_
    assert tuning["num_leaves"] in NUM_LEAVES_CANDIDATES
    assert 1 <= tuning["n_estimators"] <= 60
    assert tuning["inner_folds"] == 5
    assert [c["num_leaves"] for c in tuning["candidates"]] == list(NUM_LEAVES_CANDIDATES)
    best = max(tuning["candidates"], key=lambda c: c["inner_auc"])
    assert (best["num_leaves"], best["n_estimators"]) == (
        tuning["num_leaves"],
        tuning["n_estimators"],
    )
    assert model.booster_.num_trees() == tuning["n_estimators"]
    # The same data gives the same model; the artifact keeps the choice and scores the same.
    again = BoostedModel(max_estimators=60, early_stopping_rounds=15).fit(X, y)
    assert again.booster_.model_to_string() == model.booster_.model_to_string()
    path = tmp_path / "boosted.json"
    model.save(path)
    loaded = BoostedModel.load(path)
    assert loaded.tuning_ == tuning
    assert np.array_equal(loaded.score(X), model.score(X))


def test_boosted_given_values_are_not_searched(
    credit_data: tuple[pd.DataFrame, np.ndarray],
) -> None:
    X, y = credit_data
    model = BoostedModel(num_leaves=4, n_estimators=12).fit(X, y)
    assert model.tuning_ == {"num_leaves": 4, "n_estimators": 12}
    assert model.booster_.num_trees() == 12


def test_boosted_probability_follows_the_monotone_constraints(boosted: BoostedModel) -> None:
    row = {
        "overdue_months_24m": 1,
        "credit_utilisation": 0.4,
        "age_of_oldest_account_months": 60.0,
        "hard_inquiries_6m": 1,
        "housing": "rent",
    }
    overdue = pd.DataFrame([{**row, "overdue_months_24m": v} for v in range(9)])
    history = pd.DataFrame([{**row, "age_of_oldest_account_months": v} for v in range(0, 241, 8)])
    assert (np.diff(boosted.predict_proba(overdue)[:, 1]) >= 0).all()  # constraint +1
    assert (np.diff(boosted.predict_proba(history)[:, 1]) <= 0).all()  # constraint -1

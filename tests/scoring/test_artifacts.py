from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from xinyong.scoring import (
    BoostedModel,
    ModelArtifactError,
    WoeScorecard,
    load_model,
    training_digest,
)


def test_scorecard_save_load_score_is_lossless(
    scorecard: WoeScorecard, holdout: tuple[pd.DataFrame, np.ndarray], tmp_path: Path
) -> None:
    path = tmp_path / "scorecard.json"
    scorecard.save(path)
    loaded = WoeScorecard.load(path)
    X, _ = holdout
    assert np.array_equal(loaded.score(X), scorecard.score(X))
    assert np.array_equal(loaded.predict_proba(X), scorecard.predict_proba(X))
    assert loaded.explain(X.iloc[3]) == scorecard.explain(X.iloc[3])
    assert loaded.to_artifact() == scorecard.to_artifact()

    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["kind"] == "woe_scorecard"
    assert document["scaling"] == {"base_score": 600.0, "base_odds": 50.0, "pdo": 20.0}
    assert document["training_digest"] == scorecard.training_digest_
    assert {"train_auc", "train_gini", "rows", "bad_rate"} <= set(document["metrics"])
    first = document["characteristics"][0]
    assert {"splits", "groups", "bins", "points", "coefficient"} <= set(first)
    assert len(first["points"]) == len(first["bins"])


def test_boosted_save_load_score_is_lossless(
    boosted: BoostedModel, holdout: tuple[pd.DataFrame, np.ndarray], tmp_path: Path
) -> None:
    path = tmp_path / "boosted.json"
    boosted.save(path)
    loaded = load_model(path)
    assert isinstance(loaded, BoostedModel)
    X, _ = holdout
    assert np.array_equal(loaded.score(X), boosted.score(X))
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["booster"].startswith("tree")
    assert document["monotone_constraints"] == boosted.constraints_


def test_load_model_picks_the_kind(scorecard: WoeScorecard, tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    scorecard.save(path)
    assert isinstance(load_model(path), WoeScorecard)
    with pytest.raises(ModelArtifactError, match="not lightgbm"):
        BoostedModel.load(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "cannot read"),
        ('{"format": "something else"}', "not a Xinyong model artifact"),
        ('{"format": "xinyong.scoring.model", "version": 99}', "version 99"),
    ],
)
def test_bad_artifacts_are_refused(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ModelArtifactError, match=message):
        load_model(path)


def test_training_digest_is_canonical(credit_data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = credit_data
    digest = training_digest(X, y)
    assert digest == training_digest(X[list(reversed(X.columns))], y)  # column order
    changed = X.copy()
    changed.loc[0, "hard_inquiries_6m"] += 1
    assert training_digest(changed, y) != digest
    assert training_digest(X, 1 - y) != digest

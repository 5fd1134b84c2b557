from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xinyong.scoring import (
    MinimumScoringCriteria,
    ScoreResult,
    Unscorable,
    WoeScorecard,
    reason_codes,
    score_subject,
)
from xinyong.scoring.reasons import GENERIC_TEXT, REASON_TEXTS, reason_code_of

MAXIMUM = {"a": 50.0, "b": 40.0, "c": 30.0, "d": 20.0, "e": 10.0, "hard_inquiries_6m": 30.0}


def test_reasons_are_ordered_by_points_lost() -> None:
    points = {"a": 10.0, "b": 35.0, "c": 0.0, "d": 20.0, "e": 5.0, "hard_inquiries_6m": 30.0}
    reasons = reason_codes(points, MAXIMUM)
    assert [r.characteristic for r in reasons] == ["a", "c", "b", "e"]
    assert [r.points_lost for r in reasons] == [40.0, 30.0, 5.0, 5.0]  # ties by name
    assert [r.code for r in reasons] == ["R_A", "R_C", "R_B", "R_E"]


def test_at_most_four_reasons_plus_inquiries_as_a_fifth() -> None:
    points = {"a": 0.0, "b": 0.0, "c": 0.0, "d": 0.0, "e": 0.0, "hard_inquiries_6m": 29.0}
    reasons = reason_codes(points, MAXIMUM)
    assert [r.characteristic for r in reasons] == ["a", "b", "c", "d", "hard_inquiries_6m"]
    assert reasons[-1].code == "R_HARD_INQUIRIES_6M"
    assert reasons[-1].text_en == REASON_TEXTS["hard_inquiries_6m"].en
    assert reasons[-1].text_zh == "近6个月硬查询次数过多"


def test_inquiries_are_not_added_when_they_cost_nothing_or_rank_already() -> None:
    no_cost = {"a": 0.0, "b": 0.0, "c": 0.0, "d": 0.0, "e": 0.0, "hard_inquiries_6m": 30.0}
    assert len(reason_codes(no_cost, MAXIMUM)) == 4
    ranked = {"a": 0.0, "b": 0.0, "c": 0.0, "d": 0.0, "e": 0.0, "hard_inquiries_6m": 0.0}
    reasons = reason_codes(ranked, MAXIMUM)
    assert len(reasons) == 4
    assert reasons[0].characteristic == "a"
    assert "hard_inquiries_6m" in [r.characteristic for r in reasons]


def test_inquiry_characteristics_can_be_named() -> None:
    points = {"a": 0.0, "b": 0.0, "c": 0.0, "d": 0.0, "e": 9.0, "hard_inquiries_6m": 30.0}
    reasons = reason_codes(points, MAXIMUM, inquiry_characteristics={"e"})
    assert [r.characteristic for r in reasons][-1] == "e"
    assert len(reasons) == 5


def test_generic_texts_and_stable_codes() -> None:
    (reason,) = reason_codes({"DEBTINC": 1.0}, {"DEBTINC": 9.0})
    assert reason.code == "R_DEBTINC" == reason_code_of("DEBTINC")
    assert reason.text_en == GENERIC_TEXT.en.format(characteristic="DEBTINC")
    assert reason.text_zh == "“DEBTINC”对评分不利"
    assert reason_code_of("credit utilisation (%)") == "R_CREDIT_UTILISATION"
    assert reason_codes({"a": 50.0}, {"a": 50.0}) == []


def test_a_scored_subject_gets_score_points_and_reasons(
    scorecard: WoeScorecard, holdout: tuple[pd.DataFrame, np.ndarray]
) -> None:
    X, _ = holdout
    scores = scorecard.score(X)
    worst = int(np.argmin(scores))
    result = score_subject(scorecard, X.iloc[worst])
    assert isinstance(result, ScoreResult)
    assert result.score == scores[worst]
    assert sum(result.points.values()) == result.score
    assert 1 <= len(result.reasons) <= 5
    lost = [r.points_lost for r in result.reasons[:4]]
    assert lost == sorted(lost, reverse=True)
    maximum = scorecard.max_points()
    for reason in result.reasons:
        expected = maximum[reason.characteristic] - result.points[reason.characteristic]
        assert reason.points_lost == expected > 0


@pytest.mark.parametrize(
    ("row", "criteria", "code"),
    [
        ({}, MinimumScoringCriteria(), "U_NO_DATA"),
        (
            {"overdue_months_24m": float("nan"), "housing": None},
            MinimumScoringCriteria(),
            "U_NO_DATA",
        ),
        (
            {"overdue_months_24m": 0, "housing": "own"},
            MinimumScoringCriteria(),
            "U_INSUFFICIENT_HISTORY",
        ),
        (
            {"overdue_months_24m": 0, "housing": "own", "hard_inquiries_6m": 1},
            MinimumScoringCriteria(required=("age_of_oldest_account_months",)),
            "U_REQUIRED_MISSING",
        ),
    ],
)
def test_thin_files_are_unscorable_never_scored(
    scorecard: WoeScorecard, row: dict[str, object], criteria: MinimumScoringCriteria, code: str
) -> None:
    full = {name: row.get(name) for name in scorecard.features_}
    result = score_subject(scorecard, full, criteria=criteria)
    assert isinstance(result, Unscorable)
    assert result.code == code
    assert result.text_zh
    assert result.text_en
    assert not hasattr(result, "score")


def test_criteria_are_configurable(scorecard: WoeScorecard) -> None:
    row = dict.fromkeys(scorecard.features_) | {"overdue_months_24m": 0}
    assert isinstance(score_subject(scorecard, row), Unscorable)
    relaxed = MinimumScoringCriteria(min_characteristics=1)
    assert isinstance(score_subject(scorecard, row, criteria=relaxed), ScoreResult)

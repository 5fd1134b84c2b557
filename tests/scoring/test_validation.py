"""The validation report: standard formulas, tables, JSON and a self-contained HTML page."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from xinyong.scoring import BoostedModel, ModelNotFittedError, WoeScorecard
from xinyong.scoring.validation import (
    ValidationReport,
    auc_score,
    information_value,
    ks_statistic,
    psi_value,
    stability_verdict,
    validate_model,
)

Data = tuple[pd.DataFrame, np.ndarray]


@pytest.fixture(scope="module")
def report(scorecard: WoeScorecard, credit_data: Data, holdout: Data) -> ValidationReport:
    X, y = holdout
    rng = np.random.default_rng(3)
    protected = pd.DataFrame(
        {
            "sex": rng.choice(["F", "M"], len(X)),
            "age_band": rng.choice(["18-29", "30-49", "50+", None], len(X)),
        }
    )
    return validate_model(
        scorecard, X, y, X_reference=credit_data[0], protected=protected, approval_rate=0.7
    )


def brute_force_ks(scores: np.ndarray, y: np.ndarray) -> float:
    best = 0.0
    for s in np.unique(scores):
        below = scores <= s
        gap = abs(below[y == 1].mean() - below[y == 0].mean())
        best = max(best, gap)
    return best


def test_auc_and_gini_match_sklearn(
    report: ValidationReport, scorecard: WoeScorecard, holdout: Data
) -> None:
    X, y = holdout
    expected = roc_auc_score(y, -scorecard.score(X))
    assert report.auc == pytest.approx(expected, abs=1e-12)
    assert report.gini == pytest.approx(2 * expected - 1, abs=1e-12)
    assert 0.6 < report.auc < 1


def test_auc_of_the_boosted_model_matches_sklearn(boosted: BoostedModel, holdout: Data) -> None:
    X, y = holdout
    result = validate_model(boosted, X, y)
    assert result.model_kind == "lightgbm"
    assert result.auc == pytest.approx(roc_auc_score(y, boosted.predict_proba(X)[:, 1]))
    assert result.psi is None
    assert result.stability is None
    assert [iv.name for iv in result.information_values] == boosted.features_


def test_auc_counts_ties_as_half() -> None:
    assert auc_score([1, 1, 2, 2], [1, 0, 1, 0]) == pytest.approx(0.5)
    assert auc_score([1, 2, 3, 4], [1, 1, 0, 0]) == 1.0


def test_ks_equals_brute_force(
    report: ValidationReport, scorecard: WoeScorecard, holdout: Data
) -> None:
    X, y = holdout
    scores = scorecard.score(X)
    assert report.ks == pytest.approx(brute_force_ks(scores, y), abs=1e-12)
    below = scores <= report.ks_score
    gap = abs(below[y == 1].mean() - below[y == 0].mean())
    assert gap == pytest.approx(report.ks)


def test_ks_on_a_tiny_example() -> None:
    # bads 1, 2; goods 3, 4: at score 2 all bads and no goods are below.
    assert ks_statistic([1, 2, 3, 4], [1, 1, 0, 0]) == (1.0, 2.0)


def test_psi_of_a_sample_against_itself_is_zero_and_grows_with_a_shift(
    scorecard: WoeScorecard, holdout: Data
) -> None:
    X, y = holdout
    same = validate_model(scorecard, X, y, X_reference=X)
    assert same.psi == pytest.approx(0.0, abs=1e-12)
    assert same.stability == "stable"

    shifted = X.copy()
    shifted["overdue_months_24m"] = (shifted["overdue_months_24m"] + 1).clip(0, 8)
    slight = validate_model(scorecard, shifted, y, X_reference=X)
    shifted["overdue_months_24m"] = (shifted["overdue_months_24m"] + 2).clip(0, 8)
    shifted["hard_inquiries_6m"] = shifted["hard_inquiries_6m"] + 3
    strong = validate_model(scorecard, shifted, y, X_reference=X)
    assert slight.psi is not None
    assert strong.psi is not None
    assert 0 < slight.psi < strong.psi
    assert strong.stability == "shift"


def test_psi_formula_and_thresholds() -> None:
    a, e = np.array([30, 70]), np.array([50, 50])
    expected = (0.3 - 0.5) * np.log(0.3 / 0.5) + (0.7 - 0.5) * np.log(0.7 / 0.5)
    assert psi_value(a, e) == pytest.approx(expected)
    # An empty band uses a share of 0.0001 instead of 0.
    assert psi_value([0, 100], [50, 50]) == pytest.approx(
        (1e-4 - 0.5) * np.log(1e-4 / 0.5) + 0.5 * np.log(2)
    )
    assert [stability_verdict(p) for p in (0.05, 0.1, 0.2, 0.25)] == [
        "stable",
        "monitor",
        "monitor",
        "shift",
    ]


def test_band_tables_add_up(report: ValidationReport) -> None:
    assert sum(b.count for b in report.bands) == report.n
    assert sum(b.bads for b in report.bands) == report.n_bad
    assert sum(b.goods for b in report.bands) == report.n_good
    assert sum(b.reference_count or 0 for b in report.bands) == report.reference_n
    assert sum(b.psi or 0 for b in report.bands) == pytest.approx(report.psi)
    assert sum(b.share for b in report.bands) == pytest.approx(1.0)
    for band in report.bands:
        if band.count:
            assert band.bad_rate == pytest.approx(band.bads / band.count)
            assert band.mean_pd is not None
            assert 0 < band.mean_pd < 1
    # Bands ascend in score, so the observed bad rate falls from first to last.
    rates = [b.bad_rate for b in report.bands if b.bad_rate is not None]
    assert rates[0] > rates[-1]


def test_explicit_band_cut_points(scorecard: WoeScorecard, holdout: Data) -> None:
    X, y = holdout
    result = validate_model(scorecard, X, y, bands=[550, 600, 650])
    assert [b.label for b in result.bands] == [
        "[-∞, 550)",
        "[550, 600)",
        "[600, 650)",
        "[650, +∞)",
    ]
    scores = scorecard.score(X)
    assert result.bands[1].count == int(((scores >= 550) & (scores < 600)).sum())


def test_information_values_use_the_scorecards_bins(
    report: ValidationReport, scorecard: WoeScorecard
) -> None:
    by_name = {iv.name: iv for iv in report.information_values}
    assert list(by_name) == scorecard.features_
    for name, iv in by_name.items():
        characteristic = scorecard.characteristics_[name]
        assert iv.training_information_value == pytest.approx(characteristic.information_value)
        assert iv.bins == len(characteristic.bins)
        assert iv.information_value > 0
    # IV on training bins recomputed from the training counts is the training IV.
    for name in scorecard.features_:
        bins = scorecard.characteristics_[name].bins
        recomputed = information_value([b.count - b.bad for b in bins], [b.bad for b in bins])
        assert recomputed == pytest.approx(scorecard.characteristics_[name].information_value)


def test_adverse_impact_by_hand() -> None:
    """Ten applicants, cut-off 600: group A approves 4 of 5, B 2 of 5 → ratio 0.5, flagged."""
    X = pd.DataFrame({"x": range(10)})
    y = np.array([0, 1] * 5)
    scores = np.array([700, 650, 620, 610, 500, 640, 600, 550, 540, 530], dtype=float)

    class FixedScores:
        KIND = "fixed"
        features_ = ["x"]  # noqa: RUF012
        training_digest_ = "sha256:test"

        def score(self, frame: pd.DataFrame) -> np.ndarray:
            return scores[frame["x"].to_numpy()]

        def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
            p = 1 / (1 + np.exp((self.score(frame) - 600) / 30))
            return np.column_stack([1 - p, p])

        @property
        def encoders_(self) -> dict[str, object]:
            return {}

    protected = pd.DataFrame({"group": ["A"] * 5 + ["B"] * 5, "band": ["u", "v"] * 5})
    result = validate_model(FixedScores(), X, y, protected=protected, cutoff_score=600)  # type: ignore[arg-type]
    impact = {(r.attribute, r.group): r for r in result.adverse_impact}
    a, b = impact["group", "A"], impact["group", "B"]
    assert (a.approved, a.count, a.approval_rate, a.impact_ratio) == (4, 5, 0.8, 1.0)
    assert (b.approved, b.approval_rate) == (2, 0.4)
    assert b.impact_ratio == pytest.approx(0.5)
    assert b.below_four_fifths
    assert not a.below_four_fifths
    # u: 700, 620, 500, 600, 540 → 3 of 5; v: 650, 610, 640, 550, 530 → 3 of 5.
    assert impact["band", "u"].impact_ratio == impact["band", "v"].impact_ratio == 1.0
    assert result.approval_rate == pytest.approx(0.6)

    # By approval rate: the best 30% (700, 650, 640) are approved.
    by_rate = validate_model(FixedScores(), X, y, protected=protected, approval_rate=0.3)  # type: ignore[arg-type]
    assert by_rate.cutoff_score == 640
    rows = {(r.attribute, r.group): r for r in by_rate.adverse_impact}
    assert rows["group", "A"].approved == 2
    assert rows["group", "B"].approved == 1
    assert rows["group", "B"].impact_ratio == pytest.approx(0.5)


def test_adverse_impact_needs_one_cut_off(scorecard: WoeScorecard, holdout: Data) -> None:
    from xinyong.scoring import InvalidScoringDataError

    X, y = holdout
    protected = pd.DataFrame({"sex": ["F"] * len(X)})
    with pytest.raises(InvalidScoringDataError, match="exactly one"):
        validate_model(scorecard, X, y, protected=protected)
    with pytest.raises(InvalidScoringDataError, match="must not be model characteristics"):
        validate_model(scorecard, X, y, protected=X[["housing"]], cutoff_score=600)


def test_json_round_trips(report: ValidationReport, scorecard: WoeScorecard) -> None:
    document = json.loads(report.to_json())
    assert document["model_kind"] == "woe_scorecard"
    assert document["training_digest"] == scorecard.training_digest_
    assert document["n"] == report.n
    assert document["reference_n"] == report.reference_n
    assert document["auc"] == report.auc
    assert document["ks"] == report.ks
    assert document["psi"] == report.psi
    assert len(document["bands"]) == len(report.bands)
    assert {g["attribute"] for g in document["adverse_impact"]} == {"sex", "age_band"}
    assert "Missing" in {g["group"] for g in document["adverse_impact"]}
    assert "scores" not in document
    assert document["generated_at"][:4].isdigit()


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_html_is_self_contained_with_the_figures(report: ValidationReport, lang: str) -> None:
    page = report.to_html(lang=lang)  # type: ignore[arg-type]
    assert page.count('<img src="data:image/png;base64,') == 4
    assert f"{report.auc:.4f}" in page
    assert f"{report.ks:.4f}" in page
    assert "模型验证报告" in page if lang == "zh-CN" else "Model validation report" in page
    assert "http://" not in page
    assert "https://" not in page


def test_html_escapes_a_hostile_feature_name(credit_data: Data) -> None:
    X, y = credit_data
    hostile = '<script>alert("x")</script>'
    renamed = X.rename(columns={"overdue_months_24m": hostile})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        card = WoeScorecard().fit(renamed, y)
    page = validate_model(card, renamed, y).to_html(lang="en")
    assert hostile not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page


@pytest.mark.parametrize("model", [WoeScorecard(), BoostedModel()])
def test_an_unfitted_model_is_refused(model: WoeScorecard | BoostedModel, holdout: Data) -> None:
    X, y = holdout
    with pytest.raises(ModelNotFittedError):
        validate_model(model, X, y)

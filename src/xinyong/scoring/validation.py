"""The validation report of a fitted model: discrimination, calibration, stability, fairness.

All figures are computed on a validation sample (``X``, ``y`` with 1 = bad) from the model's
own ``score`` (higher is safer) and ``predict_proba`` (probability of bad). The formulas are
the standard ones of retail credit scoring (Siddiqi, *Credit Risk Scorecards*, 2006; Thomas,
Edelman and Crook, *Credit Scoring and Its Applications*, 2002); each function cites its
own. See docs/scoring.md, "Validation report".
"""

from __future__ import annotations

import base64
import functools
import io
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import jinja2
import numpy as np
import numpy.typing as npt
import pandas as pd  # type: ignore[import-untyped]

from xinyong.fonts import default_cjk_font
from xinyong.scoring.binning import MISSING_LABEL, Characteristic
from xinyong.scoring.boosting import BoostedModel
from xinyong.scoring.errors import InvalidScoringDataError
from xinyong.scoring.frames import require_fitted, scoring_frame, training_frame
from xinyong.scoring.scorecard import WoeScorecard

Lang = Literal["zh-CN", "en"]
Stability = Literal["stable", "monitor", "shift"]

PSI_EPSILON = 1e-4
"""Share put in place of an empty band's 0 so that ln(a/e) stays finite."""
PSI_MONITOR = 0.1
PSI_SHIFT = 0.25
"""PSI < 0.1 stable; 0.1–0.25 some shift, monitor; ≥ 0.25 significant shift (Siddiqi 2006,
ch. 8; Yurdakul, *Statistical Properties of the Population Stability Index*, 2018)."""
FOUR_FIFTHS = 0.8
"""Adverse-impact screen: a group whose selection rate is below four-fifths of the most
favoured group's shows adverse impact (Uniform Guidelines, 29 CFR §1607.4(D))."""


# --- the report ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreBand:
    """One score band: ``low <= score < high``, in ascending score order (riskiest first)."""

    band: int
    label: str
    low: float | None
    high: float | None
    count: int
    share: float
    goods: int
    bads: int
    bad_rate: float | None
    """Observed bad rate, ``bads / count`` (``None`` for an empty band)."""
    mean_pd: float | None
    """Mean predicted probability of bad in the band."""
    reference_count: int | None
    reference_share: float | None
    psi: float | None
    """This band's term of the PSI sum."""


@dataclass(frozen=True)
class CharacteristicIV:
    name: str
    information_value: float
    training_information_value: float | None
    bins: int


@dataclass(frozen=True)
class GroupImpact:
    attribute: str
    group: str
    count: int
    approved: int
    approval_rate: float
    impact_ratio: float | None
    """Approval rate ÷ that of the most favoured group of the same attribute."""
    below_four_fifths: bool


@dataclass(frozen=True)
class ValidationReport:
    """Every figure of a validation; :meth:`to_json` and :meth:`to_html` present them."""

    model_kind: str
    training_digest: str
    features: list[str]
    generated_at: str
    n: int
    n_bad: int
    n_good: int
    reference_n: int | None
    auc: float
    gini: float
    ks: float
    ks_score: float
    bands: list[ScoreBand]
    psi: float | None
    stability: Stability | None
    information_values: list[CharacteristicIV]
    cutoff_score: float | None = None
    approval_rate: float | None = None
    adverse_impact: list[GroupImpact] = field(default_factory=list)
    # The validation sample's scores, outcomes and PDs, for the plots; not part of the JSON.
    scores: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(0), repr=False)
    outcomes: npt.NDArray[np.int64] = field(
        default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False
    )

    def to_dict(self) -> dict[str, Any]:
        document = asdict(self)
        del document["scores"], document["outcomes"]
        return {"format": "xinyong.scoring.validation", "version": 1, **document}

    def to_json(self) -> str:
        """The report as one JSON document (UTF-8 text; missing figures are ``null``)."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=1, allow_nan=False)

    def to_html(self, *, lang: Lang = "zh-CN") -> str:
        """A self-contained HTML page: the tables and four plots as base64 PNG images."""
        labels = LABELS[lang]
        template = _environment().get_template("validation.html.j2")
        return str(
            template.render(report=self, labels=labels, lang=lang, plots=_plots(self, labels, lang))
        )


# --- entry point --------------------------------------------------------------------------------


def validate_model(
    model: WoeScorecard | BoostedModel,
    X: pd.DataFrame,
    y: Any,
    *,
    X_reference: pd.DataFrame | None = None,
    protected: pd.DataFrame | None = None,
    bands: int | Sequence[float] = 10,
    cutoff_score: float | None = None,
    approval_rate: float | None = None,
) -> ValidationReport:
    """Validate a fitted model on ``X``/``y`` (1 = bad).

    ``X_reference`` is the reference (training) sample: the score bands are its quantiles
    and the PSI compares it with ``X``; without it bands are quantiles of ``X`` and there is
    no PSI. ``bands`` is a number of quantile bands or explicit inner cut points (ascending).
    ``protected`` holds attributes for disparate-impact testing only (one row per row of
    ``X``, never model inputs); it needs ``cutoff_score`` (approve ``score >= cutoff``) or
    ``approval_rate`` (approve that share of ``X``, best scores first).
    """
    require_fitted(model, "training_digest_")
    frame, target = training_frame(X, y)
    features: list[str] = list(model.features_)
    scores = np.asarray(model.score(frame), dtype=float)
    p_bad = np.asarray(model.predict_proba(frame)[:, 1], dtype=float)

    reference_scores = None
    if X_reference is not None:
        reference_scores = np.asarray(model.score(X_reference), dtype=float)
    edges = _band_edges(reference_scores if reference_scores is not None else scores, bands)
    band_rows = _band_table(scores, target, p_bad, reference_scores, edges)
    psi = None if reference_scores is None else sum(b.psi or 0.0 for b in band_rows)

    ks, ks_score = ks_statistic(scores, target)
    auc = auc_score(scores, target)

    cutoff: float | None = None
    realised: float | None = None
    impact: list[GroupImpact] = []
    if protected is not None:
        cutoff, realised, impact = _adverse_impact(
            scores, protected, features, cutoff_score, approval_rate
        )

    return ValidationReport(
        model_kind=model.KIND,
        training_digest=model.training_digest_,
        features=features,
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        n=len(target),
        n_bad=int(target.sum()),
        n_good=int(len(target) - target.sum()),
        reference_n=None if reference_scores is None else len(reference_scores),
        auc=auc,
        gini=2 * auc - 1,
        ks=ks,
        ks_score=ks_score,
        bands=band_rows,
        psi=psi,
        stability=None if psi is None else stability_verdict(psi),
        information_values=_information_values(model, frame, target),
        cutoff_score=cutoff,
        approval_rate=realised,
        adverse_impact=impact,
        scores=scores,
        outcomes=target,
    )


# --- the formulas -------------------------------------------------------------------------------


def auc_score(scores: npt.ArrayLike, y: npt.ArrayLike) -> float:
    """Area under the ROC curve of ``scores`` (higher is safer) for ``y`` (1 = bad).

    The Mann–Whitney form: the probability that a random good outscores a random bad, ties
    counting one half, ``AUC = (R_g − n_g(n_g+1)/2) / (n_g·n_b)`` with ``R_g`` the sum of the
    goods' mid-ranks in ascending score order (Hanley and McNeil, *Radiology* 143, 1982).
    """
    s = np.asarray(scores, dtype=float)
    bad = np.asarray(y).astype(bool)
    n_bad, n_good = int(bad.sum()), int((~bad).sum())
    if n_bad == 0 or n_good == 0:
        raise InvalidScoringDataError("AUC needs both goods and bads")
    ranks = pd.Series(s).rank(method="average").to_numpy(dtype=float)
    rank_sum = float(ranks[~bad].sum())
    return (rank_sum - n_good * (n_good + 1) / 2) / (n_good * n_bad)


def ks_statistic(scores: npt.ArrayLike, y: npt.ArrayLike) -> tuple[float, float]:
    """Kolmogorov–Smirnov statistic and the score where it occurs.

    ``KS = max_s |F_bad(s) − F_good(s)|`` with ``F`` the empirical CDFs of the score,
    ``F(s) = share with score ≤ s``, evaluated at every distinct score (Thomas, Edelman and
    Crook 2002, §7.3). Ties go to the lowest such score.
    """
    grid, cdf_bad, cdf_good = _cdfs(np.asarray(scores, dtype=float), np.asarray(y))
    gap = np.abs(cdf_bad - cdf_good)
    at = int(np.argmax(gap))
    return float(gap[at]), float(grid[at])


def psi_value(actual: npt.ArrayLike, expected: npt.ArrayLike) -> float:
    """Population stability index of band counts ``actual`` against ``expected``.

    ``PSI = Σ (aᵢ − eᵢ)·ln(aᵢ/eᵢ)`` over bands, with ``aᵢ``, ``eᵢ`` the shares of each
    sample in band ``i``; a share of 0 is replaced by ``PSI_EPSILON`` (0.0001) first
    (Siddiqi 2006, ch. 8).
    """
    a = _shares(np.asarray(actual, dtype=float))
    e = _shares(np.asarray(expected, dtype=float))
    return float(np.sum((a - e) * np.log(a / e)))


def stability_verdict(psi: float) -> Stability:
    """``stable`` below 0.1, ``monitor`` from 0.1, ``shift`` from 0.25."""
    if psi < PSI_MONITOR:
        return "stable"
    return "monitor" if psi < PSI_SHIFT else "shift"


def information_value(goods: npt.ArrayLike, bads: npt.ArrayLike) -> float:
    """``IV = Σ (gᵢ/G − bᵢ/B) · ln((gᵢ/G)/(bᵢ/B))`` over bins (Siddiqi 2006, ch. 6).

    The WOE term follows the scorecard's binning: an empty bin adds nothing and a bin with
    only goods or only bads has a half added to both counts, so the figure stays finite.
    """
    g = np.asarray(goods, dtype=float)
    b = np.asarray(bads, dtype=float)
    total_good, total_bad = g.sum(), b.sum()
    if total_good == 0 or total_bad == 0:
        return 0.0
    iv = 0.0
    for good, bad in zip(g, b, strict=True):
        if good + bad == 0:
            continue
        woe_good, woe_bad = (good, bad) if good and bad else (good + 0.5, bad + 0.5)
        woe = math.log((woe_good / total_good) / (woe_bad / total_bad))
        iv += (good / total_good - bad / total_bad) * woe
    return iv


def _shares(counts: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    total = counts.sum()
    shares = counts / total if total else counts
    return np.where(shares > 0, shares, PSI_EPSILON)


def _cdfs(
    scores: npt.NDArray[np.float64], y: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    bad = np.asarray(y).astype(bool)
    if not bad.any() or bad.all():
        raise InvalidScoringDataError("KS needs both goods and bads")
    grid = np.unique(scores)
    cdf_bad = np.searchsorted(np.sort(scores[bad]), grid, side="right") / bad.sum()
    cdf_good = np.searchsorted(np.sort(scores[~bad]), grid, side="right") / (~bad).sum()
    return grid, cdf_bad.astype(float), cdf_good.astype(float)


# --- bands --------------------------------------------------------------------------------------


def _band_edges(scores: npt.NDArray[np.float64], bands: int | Sequence[float]) -> list[float]:
    """Inner cut points: band ``i`` holds ``edges[i-1] <= score < edges[i]``."""
    if isinstance(bands, int):
        if bands < 1:
            raise InvalidScoringDataError("bands must be at least 1")
        quantiles = np.quantile(scores, np.linspace(0, 1, bands + 1)[1:-1])
        # A quantile equal to the minimum would leave the first band empty.
        return [float(q) for q in np.unique(quantiles) if q > scores.min()]
    edges = [float(b) for b in bands]
    if edges != sorted(set(edges)):
        raise InvalidScoringDataError("band cut points must be strictly ascending")
    return edges


def _band_table(
    scores: npt.NDArray[np.float64],
    y: npt.NDArray[np.int64],
    p_bad: npt.NDArray[np.float64],
    reference: npt.NDArray[np.float64] | None,
    edges: list[float],
) -> list[ScoreBand]:
    size = len(edges) + 1
    index = np.searchsorted(edges, scores, side="right")
    counts = np.bincount(index, minlength=size)
    bads = np.bincount(index, weights=y.astype(float), minlength=size).astype(int)
    pd_sums = np.bincount(index, weights=p_bad, minlength=size)
    ref_counts = None
    terms: npt.NDArray[np.float64] | None = None
    if reference is not None:
        ref_counts = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=size)
        a, e = _shares(counts.astype(float)), _shares(ref_counts.astype(float))
        terms = (a - e) * np.log(a / e)
    ref_total = 0 if ref_counts is None else int(ref_counts.sum())
    bounds: list[float | None] = [None, *edges, None]
    rows = []
    for i in range(size):
        low, high = bounds[i], bounds[i + 1]
        count = int(counts[i])
        rows.append(
            ScoreBand(
                band=i + 1,
                label=f"[{'-∞' if low is None else f'{low:g}'}, "
                f"{'+∞' if high is None else f'{high:g}'})",
                low=low,
                high=high,
                count=count,
                share=count / len(scores),
                goods=count - int(bads[i]),
                bads=int(bads[i]),
                bad_rate=int(bads[i]) / count if count else None,
                mean_pd=float(pd_sums[i] / count) if count else None,
                reference_count=None if ref_counts is None else int(ref_counts[i]),
                reference_share=None if ref_counts is None else int(ref_counts[i]) / ref_total,
                psi=None if terms is None else float(terms[i]),
            )
        )
    return rows


# --- information values -------------------------------------------------------------------------


def _information_values(
    model: WoeScorecard | BoostedModel, frame: pd.DataFrame, y: npt.NDArray[np.int64]
) -> list[CharacteristicIV]:
    """IV of each characteristic on the validation sample.

    A scorecard's characteristics use its own bins (and report the training IV alongside);
    the boosted model's WOE-encoded ones use their encoder's bins, and its numerical ones
    deciles of the validation sample plus a Missing bin.
    """
    data = scoring_frame(frame, model.features_)
    result = []
    for name in model.features_:
        characteristic: Characteristic | None
        if isinstance(model, WoeScorecard):
            characteristic = model.characteristics_[name]
        else:
            characteristic = model.encoders_.get(name)
        if characteristic is not None:
            index = characteristic.bin_indices(data[name])
            size = len(characteristic.bins)
            training = characteristic.information_value if isinstance(model, WoeScorecard) else None
        else:
            index, size = _decile_bins(data[name])
            training = None
        counts = np.bincount(index, minlength=size)
        bads = np.bincount(index, weights=y.astype(float), minlength=size)
        iv = information_value(counts - bads, bads)
        result.append(CharacteristicIV(name, iv, training, size))
    return result


def _decile_bins(values: pd.Series) -> tuple[npt.NDArray[np.int64], int]:
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    present = ~np.isnan(numbers)
    cuts = (
        np.unique(np.quantile(numbers[present], np.linspace(0, 1, 11)[1:-1]))
        if present.any()
        else np.zeros(0)
    )
    index = np.searchsorted(cuts, np.nan_to_num(numbers), side="right").astype(np.int64)
    missing = len(cuts) + 1
    index[~present] = missing
    return index, missing + 1


# --- adverse impact -----------------------------------------------------------------------------


def _adverse_impact(
    scores: npt.NDArray[np.float64],
    protected: pd.DataFrame,
    features: list[str],
    cutoff_score: float | None,
    approval_rate: float | None,
) -> tuple[float, float, list[GroupImpact]]:
    """Approval rate of each group ÷ that of the most favoured group of its attribute.

    A ratio below 0.8 is flagged (four-fifths rule, 29 CFR §1607.4(D)); it is a screen for
    disparate impact (ECOA, 12 CFR §1002.6(a) and its official interpretation), not a
    finding. Missing attribute values form their own group, ``Missing``.
    """
    if len(protected) != len(scores):
        raise InvalidScoringDataError(
            f"protected has {len(protected)} rows but X has {len(scores)}"
        )
    used = sorted(set(map(str, protected.columns)) & set(features))
    if used:
        raise InvalidScoringDataError(
            "protected attributes must not be model characteristics", columns=used
        )
    if (cutoff_score is None) == (approval_rate is None):
        raise InvalidScoringDataError(
            "adverse impact needs exactly one of cutoff_score or approval_rate"
        )
    if approval_rate is not None:
        if not 0 < approval_rate <= 1:
            raise InvalidScoringDataError("approval_rate must be in (0, 1]")
        ranked = np.sort(scores)[::-1]
        cutoff_score = float(ranked[max(math.ceil(approval_rate * len(ranked)), 1) - 1])
    assert cutoff_score is not None
    approved = scores >= cutoff_score
    rows: list[GroupImpact] = []
    for attribute in protected.columns:
        values = protected[attribute].reset_index(drop=True)
        groups = values.astype(object).where(values.notna(), MISSING_LABEL).astype(str)
        table = (
            pd.DataFrame({"group": groups, "approved": approved})
            .groupby("group", sort=True)["approved"]
            .agg(["count", "sum"])
        )
        rates = table["sum"] / table["count"]
        best = float(rates.max())
        for group, row in table.iterrows():
            rate = float(row["sum"] / row["count"])
            ratio = rate / best if best > 0 else None
            rows.append(
                GroupImpact(
                    attribute=str(attribute),
                    group=str(group),
                    count=int(row["count"]),
                    approved=int(row["sum"]),
                    approval_rate=rate,
                    impact_ratio=ratio,
                    below_four_fifths=ratio is not None and ratio < FOUR_FIFTHS,
                )
            )
    return cutoff_score, float(approved.mean()), rows


# --- presentation -------------------------------------------------------------------------------

LABELS: dict[Lang, dict[str, str]] = {
    "zh-CN": {
        "title": "模型验证报告",
        "model": "模型",
        "digest": "训练数据摘要",
        "generated": "生成时间",
        "sample": "验证样本",
        "reference": "参照样本",
        "goods": "好",
        "bads": "坏",
        "discrimination": "区分能力",
        "calibration": "校准（按分数段）",
        "distribution": "分数分布与稳定性（PSI）",
        "band": "分数段",
        "count": "数量",
        "share": "占比",
        "bad_rate": "实际坏账率",
        "mean_pd": "平均预测违约率",
        "stability": "稳定性",
        "stable": "稳定（< 0.1）",
        "monitor": "轻微偏移，需关注（0.1–0.25）",
        "shift": "显著偏移（≥ 0.25）",
        "iv": "各特征信息值（IV）",
        "characteristic": "特征",
        "iv_validation": "IV（验证）",
        "iv_training": "IV（训练）",
        "impact": "不利影响比率",
        "cutoff": "批准分数线",
        "approval_rate": "批准率",
        "attribute": "属性",
        "group": "组别",
        "approved": "批准数",
        "ratio": "比率",
        "flag": "低于五分之四",
        "score": "分数",
        "histogram": "好坏客户分数分布",
        "roc": "ROC 曲线",
        "ks_curve": "KS 曲线",
        "fpr": "假阳性率（好被拒）",
        "tpr": "真阳性率（坏被拒）",
        "cdf": "累计占比",
        "observed": "实际",
        "predicted": "预测",
        "yes": "是",
        "none": "—",
    },
    "en": {
        "title": "Model validation report",
        "model": "Model",
        "digest": "Training data digest",
        "generated": "Generated",
        "sample": "Validation sample",
        "reference": "Reference sample",
        "goods": "Goods",
        "bads": "Bads",
        "discrimination": "Discrimination",
        "calibration": "Calibration by score band",
        "distribution": "Score distribution and stability (PSI)",
        "band": "Score band",
        "count": "Count",
        "share": "Share",
        "bad_rate": "Observed bad rate",
        "mean_pd": "Mean predicted PD",
        "stability": "Stability",
        "stable": "stable (< 0.1)",
        "monitor": "some shift, monitor (0.1–0.25)",
        "shift": "significant shift (≥ 0.25)",
        "iv": "Information value per characteristic",
        "characteristic": "Characteristic",
        "iv_validation": "IV (validation)",
        "iv_training": "IV (training)",
        "impact": "Adverse-impact ratios",
        "cutoff": "Cut-off score",
        "approval_rate": "Approval rate",
        "attribute": "Attribute",
        "group": "Group",
        "approved": "Approved",
        "ratio": "Ratio",
        "flag": "Below four-fifths",
        "score": "Score",
        "histogram": "Score distribution, goods and bads",
        "roc": "ROC curve",
        "ks_curve": "KS curve",
        "fpr": "False positive rate (goods declined)",
        "tpr": "True positive rate (bads declined)",
        "cdf": "Cumulative share",
        "observed": "Observed",
        "predicted": "Predicted",
        "yes": "yes",
        "none": "—",
    },
}


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("xinyong.scoring", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _plots(report: ValidationReport, labels: dict[str, str], lang: Lang) -> dict[str, str]:
    """ROC, KS, score distribution and calibration plots as base64 PNG (Agg, no pyplot)."""
    from matplotlib import font_manager
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    font: dict[str, Any] = {}
    if lang == "zh-CN" and (path := default_cjk_font()) is not None:
        font_manager.fontManager.addfont(str(path))
        font = {"fontproperties": font_manager.FontProperties(fname=str(path))}

    scores, bad = report.scores, report.outcomes.astype(bool)
    grid, cdf_bad, cdf_good = _cdfs(scores, bad)
    plots: dict[str, str] = {}

    def render(name: str, draw: Any) -> None:
        figure = Figure(figsize=(5.2, 3.6), dpi=100)
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        draw(axes)
        axes.set_title(labels[name], **font)
        legend = axes.get_legend()
        if legend is not None and font:
            for text in legend.get_texts():
                text.set_fontproperties(font["fontproperties"])
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        plots[name] = base64.b64encode(buffer.getvalue()).decode("ascii")

    def roc(axes: Any) -> None:
        # Declining every score ≤ s: bads declined (TPR) against goods declined (FPR).
        axes.plot(np.r_[0, cdf_good], np.r_[0, cdf_bad], label=f"AUC {report.auc:.3f}")
        axes.plot([0, 1], [0, 1], linestyle=":", color="grey")
        axes.set_xlabel(labels["fpr"], **font)
        axes.set_ylabel(labels["tpr"], **font)
        axes.legend(loc="lower right")

    def ks(axes: Any) -> None:
        axes.step(grid, cdf_bad, where="post", label=labels["bads"])
        axes.step(grid, cdf_good, where="post", label=labels["goods"])
        at = int(np.argmax(np.abs(cdf_bad - cdf_good)))
        axes.vlines(grid[at], cdf_good[at], cdf_bad[at], color="black", label=f"KS {report.ks:.3f}")
        axes.set_xlabel(labels["score"], **font)
        axes.set_ylabel(labels["cdf"], **font)
        axes.legend(loc="lower right")

    def distribution(axes: Any) -> None:
        bins = np.histogram_bin_edges(scores, bins=30)
        axes.hist(scores[~bad], bins=bins, alpha=0.6, density=True, label=labels["goods"])
        axes.hist(scores[bad], bins=bins, alpha=0.6, density=True, label=labels["bads"])
        axes.set_xlabel(labels["score"], **font)
        axes.legend()

    def calibration(axes: Any) -> None:
        filled = [b for b in report.bands if b.count]
        x = np.arange(len(filled))
        axes.bar(x - 0.2, [b.bad_rate or 0 for b in filled], 0.4, label=labels["observed"])
        axes.bar(x + 0.2, [b.mean_pd or 0 for b in filled], 0.4, label=labels["predicted"])
        axes.set_xticks(x, [str(b.band) for b in filled])
        axes.set_xlabel(labels["band"], **font)
        axes.set_ylabel(labels["bad_rate"], **font)
        axes.legend()

    render("roc", roc)
    render("ks_curve", ks)
    render("histogram", distribution)
    render("calibration", calibration)
    return plots

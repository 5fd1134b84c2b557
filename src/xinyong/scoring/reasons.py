"""Reason codes (key factors) and minimum scoring criteria.

For each score, the characteristics that cost the most points relative to the most they
could have given are its key factors: at most four, plus inquiries as a fifth when an
inquiry characteristic cost points but is not among the four (FCRA 15 U.S.C. §1681g(f)(1)(C)
and (f)(9); RULES.md 24). Each reason has a stable code derived from the characteristic's
name (``R_CHARACTERISTIC``) and a zh-CN and an en text.

A subject that does not meet the minimum scoring criteria (too few characteristics with a
value) is "unscorable" with a reason and gets no score at all (RULES.md 24).
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd  # type: ignore[import-untyped]

from xinyong.scoring.scorecard import WoeScorecard, characteristics_present

MAX_KEY_FACTORS = 4  # FCRA §1681g(f)(1)(C): "not more than 4 key factors"


@dataclass(frozen=True)
class ReasonText:
    zh: str
    en: str


# Texts for the characteristics Xinyong's own features will use; others get GENERIC_TEXT.
REASON_TEXTS: dict[str, ReasonText] = {
    "worst_overdue_status_12m": ReasonText(
        "近12个月最严重逾期状态", "Worst delinquency in the last 12 months"
    ),
    "worst_overdue_status_24m": ReasonText(
        "近24个月最严重逾期状态", "Worst delinquency in the last 24 months"
    ),
    "current_overdue_status": ReasonText("当前逾期状态", "Current delinquency"),
    "months_overdue_24m": ReasonText("近24个月逾期月数", "Months delinquent in the last 24 months"),
    "credit_utilisation": ReasonText(
        "授信额度使用率过高", "Proportion of credit limits in use is too high"
    ),
    "age_of_oldest_account_months": ReasonText(
        "最早账户开立时间较短", "Length of credit history is too short"
    ),
    "open_accounts": ReasonText("未结清账户数", "Number of open accounts"),
    "hard_inquiries_6m": ReasonText(
        "近6个月硬查询次数过多", "Too many hard inquiries in the last 6 months"
    ),
    "judgments": ReasonText("涉诉判决记录", "Court judgments on file"),
    "enforcement_cases": ReasonText("被执行记录", "Enforcement cases on file"),
    "list_entries": ReasonText(
        "列入失信或经营异常名单", "Entries on dishonesty or abnormal-operation lists"
    ),
    "penalties": ReasonText("行政处罚记录", "Administrative penalties on file"),
    "utility_arrears": ReasonText("公用事业欠费", "Utility arrears"),
    "worst_overdue_status_6m": ReasonText(
        "近6个月最严重逾期状态", "Worst delinquency in the last 6 months"
    ),
    "penalties_serious": ReasonText("严重行政处罚记录", "Serious administrative penalties on file"),
    "penalties_general": ReasonText("一般行政处罚记录", "Administrative penalties on file"),
    "penalties_minor": ReasonText("轻微行政处罚记录", "Minor administrative penalties on file"),
    "tax_arrears": ReasonText("欠缴税款", "Tax arrears"),
    "social_insurance_arrears_months": ReasonText("社会保险欠缴", "Social insurance in arrears"),
    "tax_grade_latest": ReasonText("纳税信用等级较低", "Tax credit grade is low"),
    "tax_grade_trend": ReasonText("纳税信用等级下降", "Tax credit grade has fallen"),
    "years_on_file": ReasonText("信用记录时间较短", "Length of time on file is too short"),
    "licences_revoked": ReasonText("行政许可被吊销", "Administrative licences revoked"),
    "commendations": ReasonText("表彰记录较少", "Few commendations on file"),
}
GENERIC_TEXT = ReasonText("“{characteristic}”对评分不利", "{characteristic} lowered the score")

INQUIRY_PATTERN = re.compile(r"(^|_)n?inq(uir(y|ies))?(_|$)|查询", re.IGNORECASE)


@dataclass(frozen=True)
class ReasonCode:
    code: str
    characteristic: str
    points_lost: float
    text_zh: str
    text_en: str


def reason_code_of(characteristic: str) -> str:
    """The stable code of a characteristic: ``R_`` and its name in upper case."""
    slug = re.sub(r"[^0-9A-Za-z]+", "_", characteristic).strip("_").upper()
    return "R_" + (slug or characteristic)


def is_inquiry_characteristic(name: str) -> bool:
    return bool(INQUIRY_PATTERN.search(name))


def reason_codes(
    points: Mapping[str, float],
    max_points: Mapping[str, float],
    *,
    inquiry_characteristics: Collection[str] | None = None,
    texts: Mapping[str, ReasonText] = REASON_TEXTS,
) -> list[ReasonCode]:
    """Key factors of one score, most points lost first (ties by name).

    ``inquiry_characteristics`` names the characteristics about inquiries; by default any
    whose name mentions inquiries (``hard_inquiries_6m``, ``NINQ``, ``查询次数``).
    """
    inquiries = (
        {n for n in points if is_inquiry_characteristic(n)}
        if inquiry_characteristics is None
        else set(inquiry_characteristics)
    )
    lost = sorted(
        (
            (max_points[name] - value, name)
            for name, value in points.items()
            if max_points[name] - value > 0
        ),
        key=lambda item: (-item[0], item[1]),
    )
    chosen = lost[:MAX_KEY_FACTORS]
    if not any(name in inquiries for _, name in chosen):
        chosen += [item for item in lost[MAX_KEY_FACTORS:] if item[1] in inquiries][:1]
    return [_reason(name, amount, texts) for amount, name in chosen]


def reason_text(characteristic: str, texts: Mapping[str, ReasonText] = REASON_TEXTS) -> ReasonText:
    """The zh-CN and en texts of a characteristic's reason (generic for unknown ones)."""
    text = texts.get(characteristic)
    if text is not None:
        return text
    return ReasonText(
        GENERIC_TEXT.zh.format(characteristic=characteristic),
        GENERIC_TEXT.en.format(characteristic=characteristic),
    )


def _reason(name: str, amount: float, texts: Mapping[str, ReasonText]) -> ReasonCode:
    text = texts.get(name)
    zh, en = (
        (text.zh, text.en)
        if text
        else (
            GENERIC_TEXT.zh.format(characteristic=name),
            GENERIC_TEXT.en.format(characteristic=name),
        )
    )
    return ReasonCode(reason_code_of(name), name, amount, zh, en)


# --- minimum scoring criteria ---------------------------------------------------------------


@dataclass(frozen=True)
class MinimumScoringCriteria:
    """What a subject's data must hold before it may be scored.

    ``min_characteristics`` is the least number of the model's characteristics that must
    have a value; ``None`` means half of them, rounded up. ``required`` lists
    characteristics that must always have a value (e.g. months on file); ``at_least`` gives
    the least value some must reach (e.g. an account at least 6 months old).
    """

    min_characteristics: int | None = None
    required: tuple[str, ...] = ()
    at_least: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class Unscorable:
    code: str
    text_zh: str
    text_en: str
    characteristics_present: int


@dataclass(frozen=True)
class ScoreResult:
    score: float
    points: dict[str, float]
    reasons: list[ReasonCode]


def unscorable_reason(
    row: Mapping[str, Any], features: list[str], criteria: MinimumScoringCriteria
) -> Unscorable | None:
    """Why ``row`` may not be scored, or ``None`` when it meets the criteria."""
    present = characteristics_present(row, features)
    needed = criteria.min_characteristics
    if needed is None:
        needed = math.ceil(len(features) / 2)
    if not present:
        return Unscorable(
            "U_NO_DATA", "无可用于评分的信用信息", "No credit information that can be scored", 0
        )
    absent_required = [name for name in criteria.required if name not in present]
    if absent_required:
        listed = ", ".join(absent_required)
        return Unscorable(
            "U_REQUIRED_MISSING",
            f"缺少评分必需的信息：{listed}",
            f"Information required for scoring is missing: {listed}",
            len(present),
        )
    for name, least in criteria.at_least:
        value = row.get(name)
        if isinstance(value, int | float) and not math.isnan(value) and value < least:
            return Unscorable(
                "U_INSUFFICIENT_HISTORY",
                f"信用历史不足：{name} 为 {value:g}，至少需要 {least:g}",
                f"Not enough credit history: {name} is {value:g}, at least {least:g} needed",
                len(present),
            )
    if len(present) < needed:
        return Unscorable(
            "U_INSUFFICIENT_HISTORY",
            f"信用信息不足（{len(present)}项，至少需要{needed}项）",
            f"Not enough credit information ({len(present)} items, at least {needed} needed)",
            len(present),
        )
    return None


def score_subject(
    model: WoeScorecard,
    row: Mapping[str, Any] | pd.Series,
    *,
    criteria: MinimumScoringCriteria | None = None,
    inquiry_characteristics: Collection[str] | None = None,
) -> ScoreResult | Unscorable:
    """Score one subject with its key factors, or say why it is unscorable."""
    values = dict(row.items()) if isinstance(row, pd.Series) else dict(row)
    refusal = unscorable_reason(values, model.features_, criteria or MinimumScoringCriteria())
    if refusal is not None:
        return refusal
    points = model.explain(values)
    return ScoreResult(
        score=float(model.score(values)[0]),
        points=points,
        reasons=reason_codes(
            points, model.max_points(), inquiry_characteristics=inquiry_characteristics
        ),
    )

"""Scoring features: characteristics of a subject's credit file as of a date.

Every feature is written once, as an engine-neutral Ibis expression over *items*: for each
record type, one row per record as the platform knew it at the end of the as-of date, after
retention (the same rule as the credit file of a report, :func:`xinyong.reports.service.
assemble_file`). Two paths feed the same expressions:

- **batch**: :func:`point_in_time_items` selects the items from a Parquet snapshot of all
  record versions (:mod:`xinyong.scoring.snapshot`), inside the engine (DuckDB by default);
- **online**: :func:`subject_features` takes one subject's items from the database.

so scoring one subject and scoring everyone give the same features (a test checks this over
a whole synthetic population). Features never use a prohibited basis: the names are checked
at import and again by the model builder.

Every feature is a number (float64); a missing value means "no data" (e.g. no credit
account), which scorecards treat as a bin of its own. Counts of public records are 0, not
missing, when there are none. The definitions, with meanings and units, are in
:data:`FEATURES` and docs/scoring.md.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import reduce
from pathlib import Path
from typing import Any, Final, Literal

import ibis  # type: ignore[import-untyped]
import ibis.expr.types as ir  # type: ignore[import-untyped]
import pyarrow as pa  # type: ignore[import-untyped]
from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyong.catalog.schemas import RecordType
from xinyong.catalog.service import get_catalog
from xinyong.db import as_utc
from xinyong.identity.crypto import KeyRing
from xinyong.identity.models import Subject
from xinyong.reports.models import QueryRecord
from xinyong.reports.profiles import JurisdictionProfile
from xinyong.reports.retention import EVENT_END_FIELDS
from xinyong.scoring.errors import InvalidScoringDataError
from xinyong.scoring.prohibited import refuse_prohibited
from xinyong.scoring.snapshot import (
    INQUIRIES_FILE,
    INQUIRIES_SCHEMA,
    INQUIRY_PRODUCTS,
    REPAIRED_FILE,
    SUBJECTS_FILE,
    SUBJECTS_SCHEMA,
    items_schema,
    iter_version_files,
    read_snapshot_manifest,
    typed_fields,
)

FEATURE_SET: Final = "xinyong-features/1"

Segment = Literal["person", "enterprise"]
SEGMENTS: Final[tuple[Segment, ...]] = ("person", "enterprise")
# Subject kinds scored by each segment's models.
SEGMENT_KINDS: Final[Mapping[Segment, tuple[str, ...]]] = {
    "person": ("person",),
    "enterprise": ("enterprise", "other_organisation"),
}


def segment_of_kind(kind: str) -> Segment:
    """The model segment that scores subjects of ``kind``."""
    return "person" if kind == "person" else "enterprise"


@dataclass(frozen=True)
class FeatureDefinition:
    name: str
    segments: tuple[Segment, ...]
    unit: str
    meaning_en: str
    meaning_zh: str


_BOTH: Final[tuple[Segment, ...]] = ("person", "enterprise")
_PERSON: Final[tuple[Segment, ...]] = ("person",)
_ENTERPRISE: Final[tuple[Segment, ...]] = ("enterprise",)

# Repayment grid codes ranked from best to worst (RULES.md 28): N normal (0), 1-7 months
# overdue, D paid by guarantor (8), Z settled with assets (9). C, G, # and / carry no status.
STATUS_RANKS: Final = "N1234567DZ"
ADVERSE_GRID_PATTERN: Final = "[1-7DZ]"
TAX_GRADE_RANKS: Final[Mapping[str, int]] = {"A": 5, "B": 4, "M": 3, "C": 2, "D": 1}

FEATURES: Final[tuple[FeatureDefinition, ...]] = (
    FeatureDefinition(
        "worst_overdue_status_6m",
        _PERSON,
        "status rank 0-9",
        "Worst repayment status in the last 6 months over all accounts: 0 normal, 1-7 months "
        "overdue, 8 paid by guarantor, 9 settled with assets; missing without account history",
        "近6个月所有账户最严重还款状态（0正常，1-7逾期期数，8担保人代还，9以资抵债）",
    ),
    FeatureDefinition(
        "worst_overdue_status_12m",
        _BOTH,
        "status rank 0-9",
        "Worst repayment status in the last 12 months (ranks as above)",
        "近12个月最严重还款状态",
    ),
    FeatureDefinition(
        "worst_overdue_status_24m",
        _PERSON,
        "status rank 0-9",
        "Worst repayment status in the last 24 months (ranks as above)",
        "近24个月最严重还款状态",
    ),
    FeatureDefinition(
        "months_overdue_24m",
        _BOTH,
        "account-months",
        "Months with an adverse status (1-7, D, Z) in the last 24 months, summed over accounts",
        "近24个月各账户逾期（含代还、以资抵债）月份数之和",
    ),
    FeatureDefinition(
        "current_overdue_status",
        _BOTH,
        "months overdue 0-7",
        "Largest current number of months overdue over accounts that are not closed",
        "未结清账户当前最大逾期期数",
    ),
    FeatureDefinition(
        "credit_utilisation",
        _PERSON,
        "ratio",
        "Balances of open credit cards divided by their limits; missing without a card",
        "未销户信用卡已用额度与授信额度之比",
    ),
    FeatureDefinition(
        "age_of_oldest_account_months",
        _PERSON,
        "months",
        "Months since the oldest account on file was opened (length of credit history)",
        "最早账户开立至今的月数（信用历史长度）",
    ),
    FeatureDefinition(
        "open_accounts",
        _BOTH,
        "accounts",
        "Accounts that are not closed; missing without any account",
        "未结清账户数",
    ),
    FeatureDefinition(
        "hard_inquiries_6m",
        _PERSON,
        "queries",
        "Served report or score queries for credit or guarantee applications in the last 6 months "
        "(purposes marked hard_inquiry in the jurisdiction profile)",
        "近6个月因贷款、信用卡、担保申请被查询次数（硬查询）",
    ),
    FeatureDefinition(
        "judgments",
        _BOTH,
        "judgments",
        "Court judgments against the subject as defendant still within retention",
        "作为被告败诉的民事判决数",
    ),
    FeatureDefinition(
        "enforcement_cases",
        _BOTH,
        "cases",
        "Enforcement cases open or suspended (not performed or terminated)",
        "未结被执行案件数",
    ),
    FeatureDefinition(
        "list_entries",
        _BOTH,
        "entries",
        "Entries on the list of dishonest judgment debtors in force",
        "在列失信被执行人记录数",
    ),
    FeatureDefinition(
        "penalties",
        _PERSON,
        "penalties",
        "Administrative penalties within their retention period",
        "行政处罚记录数",
    ),
    FeatureDefinition(
        "penalties_serious",
        _ENTERPRISE,
        "penalties",
        "Administrative penalties of the serious class within retention",
        "严重失信类行政处罚数",
    ),
    FeatureDefinition(
        "penalties_general",
        _ENTERPRISE,
        "penalties",
        "Administrative penalties of the general class within retention",
        "一般失信类行政处罚数",
    ),
    FeatureDefinition(
        "penalties_minor",
        _ENTERPRISE,
        "penalties",
        "Administrative penalties of the minor class within retention",
        "轻微失信类行政处罚数",
    ),
    FeatureDefinition(
        "tax_arrears",
        _BOTH,
        "arrears",
        "Tax arrears not paid by the as-of date",
        "未缴清欠税记录数",
    ),
    FeatureDefinition(
        "utility_arrears",
        _BOTH,
        "arrears",
        "Utility arrears (water, electricity, gas, heating, telecom) not paid by the as-of date",
        "未缴清公用事业欠费记录数",
    ),
    FeatureDefinition(
        "social_insurance_arrears_months",
        _BOTH,
        "months",
        "Largest number of months in arrears over social-insurance schemes in arrears",
        "社会保险最长欠缴月数",
    ),
    FeatureDefinition(
        "tax_grade_latest",
        _ENTERPRISE,
        "grade rank 1-5",
        "Latest tax credit grade: A 5, B 4, M 3, C 2, D 1; missing without a grade",
        "最近纳税信用等级（A=5，B=4，M=3，C=2，D=1）",
    ),
    FeatureDefinition(
        "tax_grade_trend",
        _ENTERPRISE,
        "grade ranks",
        "Latest tax grade rank minus the previous year's on file (positive: improving)",
        "最近纳税信用等级较上一年度的变化（正数为提升）",
    ),
    FeatureDefinition(
        "years_on_file",
        _ENTERPRISE,
        "years",
        "Years since the earliest dated fact on file (account opened, licence, tax year, social "
        "insurance, commendation); the platform holds no registration date yet",
        "最早信用信息（开户、许可、纳税年度、社保、表彰）至今的年数",
    ),
    FeatureDefinition(
        "licences_revoked",
        _ENTERPRISE,
        "licences",
        "Administrative licences revoked",
        "被吊销的行政许可数",
    ),
    FeatureDefinition(
        "commendations",
        _ENTERPRISE,
        "commendations",
        "Commendations in force",
        "有效表彰数",
    ),
)

refuse_prohibited(feature.name for feature in FEATURES)


def feature_names(segment: Segment) -> list[str]:
    """The features of ``segment``, in definition order."""
    return [feature.name for feature in FEATURES if segment in feature.segments]


def _require_segment(segment: str) -> Segment:
    if segment not in SEGMENTS:
        raise InvalidScoringDataError(f"unknown segment {segment!r}; expected one of {SEGMENTS}")
    return segment


# --- the inputs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureInputs:
    """What features are computed from, as Ibis tables on one backend."""

    subjects: ir.Table  # subject_id, kind
    items: Mapping[str, ir.Table]  # per record type: items as of the date
    inquiries: ir.Table  # subject_id, occurred_at, purpose


def _add_years(day: ir.DateValue, years: int) -> ir.DateValue:
    return day + ibis.interval(years=years)


def _retained(
    table: ir.Table, record_type: RecordType, as_of: date, profile: JurisdictionProfile
) -> ir.BooleanValue:
    """The retention rule of :func:`xinyong.reports.retention.is_retained`, in Ibis."""
    rule = profile.retention[record_type.retention_rule]
    if rule.years is None:
        return ibis.literal(True)
    day = ibis.date(as_of)
    ends: list[ir.DateValue] = []
    names = EVENT_END_FIELDS.get(record_type.code, ())
    if names:
        first: ir.DateValue = (
            ibis.coalesce(*(table[name] for name in names)) if len(names) > 1 else table[names[0]]
        )
        ends.append(ibis.cases((first <= day, first), else_=ibis.null("date")))
    if record_type.code == "dishonest_debtor_listing":
        term = table["term_end_date"]
        ends.append(ibis.cases((term < day, term), else_=ibis.null("date")))
    if not ends:
        return ibis.literal(True)
    end = ends[0]
    if len(ends) > 1:
        other = ends[1]
        end = ibis.cases(
            (end.isnull(), other),
            (other.isnull(), end),
            (other < end, other),
            else_=end,
        )
    return end.isnull() | (_add_years(end, rule.years) >= day)


def point_in_time_items(
    versions: ir.Table,
    record_type: RecordType,
    as_of: date,
    profile: JurisdictionProfile,
    repaired: ir.Table | None = None,
) -> ir.Table:
    """A record type's items as of ``as_of`` from its version table.

    The newest version received before the end of ``as_of`` (profile time zone) and valid
    by then, unless it is a tombstone, only while retained, and not once a credit repair of
    the record was approved (``repaired``: record_id, repaired_at).
    """
    cutoff = profile.end_of_day(as_of)
    known = versions.filter(
        versions.received_at < ibis.timestamp(cutoff), versions.valid_from <= ibis.date(as_of)
    )
    # The window is a column of its own, filtered on afterwards: a window inside a filter
    # compiles to QUALIFY, which the PySpark dialect rewrites into a subquery that still
    # names the inner table (Spark fails to resolve it). Same rows on every engine.
    ranked = known.mutate(_newest=known.version.max().over(group_by=known.record_id))
    latest = ranked.filter(ranked.version == ranked._newest)
    alive = latest.filter(latest.operation != "delete")
    kept = alive.filter(_retained(alive, record_type, as_of, profile))
    if repaired is not None:
        gone = repaired.filter(repaired.repaired_at < ibis.timestamp(cutoff)).select(
            _gone_id="record_id"
        )
        kept = kept.anti_join(gone, kept.record_id == gone._gone_id)
    return kept.select(*items_schema(record_type).names)


# --- the expressions -----------------------------------------------------------------------------


def _months_since(day: ir.DateValue, as_of: date) -> ir.IntegerValue:
    return (as_of.year - day.year()) * 12 + (as_of.month - day.month())


def _grid_window(accounts: ir.Table, as_of: date, months: int) -> ir.StringValue:
    """The account's grid codes for the ``months`` months up to the as-of month.

    As the report's grid window: empty when the grid ended ``months`` or more months before.
    """
    grid = accounts.repayment_grid
    gap = _months_since(accounts.grid_end_month, as_of)
    keep = months - ibis.greatest(gap, 0)
    start = ibis.greatest(grid.length() - keep, 0)
    return ibis.cases(
        (grid.isnull() | accounts.grid_end_month.isnull() | (gap >= months), ibis.literal("")),
        else_=grid.substr(start, keep),
    )


def _worst_rank(window: ir.StringValue) -> ir.IntegerValue:
    branches = [
        (window.contains(code), ibis.literal(rank, "int64"))
        for rank, code in reversed(list(enumerate(STATUS_RANKS)))
    ]
    return ibis.cases(*branches, else_=ibis.null("int64"))


def _adverse_months(window: ir.StringValue) -> ir.IntegerValue:
    return window.length() - window.re_replace(ADVERSE_GRID_PATTERN, "").length()


def _account_features(accounts: ir.Table, as_of: date) -> ir.Table:
    open_ = accounts.status != "closed"
    windows = accounts.mutate(
        w6=_grid_window(accounts, as_of, 6),
        w12=_grid_window(accounts, as_of, 12),
        w24=_grid_window(accounts, as_of, 24),
    )
    per_account = windows.mutate(
        s6=_worst_rank(windows.w6),
        s12=_worst_rank(windows.w12),
        s24=_worst_rank(windows.w24),
        m24=_adverse_months(windows.w24),
        current=ibis.cases((open_, windows.overdue_months.fill_null(0)), else_=0),
        is_open=ibis.cases((open_ & windows.close_date.isnull(), 1), else_=0),
        card_balance=ibis.cases(
            (
                open_ & (windows.account_type == "credit_card") & (windows.credit_limit > 0),
                windows.balance,
            ),
            else_=ibis.null(windows.balance.type()),
        ),
        card_limit=ibis.cases(
            (
                open_ & (windows.account_type == "credit_card") & (windows.credit_limit > 0),
                windows.credit_limit,
            ),
            else_=ibis.null(windows.credit_limit.type()),
        ),
    )
    summed = per_account.group_by("subject_id").aggregate(
        worst_overdue_status_6m=per_account.s6.max(),
        worst_overdue_status_12m=per_account.s12.max(),
        worst_overdue_status_24m=per_account.s24.max(),
        months_overdue_24m=per_account.m24.sum(),
        current_overdue_status=per_account.current.max(),
        card_balance=per_account.card_balance.sum(),
        card_limit=per_account.card_limit.sum(),
        oldest_open=per_account.open_date.min(),
        open_accounts=per_account.is_open.sum(),
    )
    return summed.select(
        "subject_id",
        "worst_overdue_status_6m",
        "worst_overdue_status_12m",
        "worst_overdue_status_24m",
        "months_overdue_24m",
        "current_overdue_status",
        credit_utilisation=summed.card_balance.cast("float64") / summed.card_limit.cast("float64"),
        age_of_oldest_account_months=_months_since(summed.oldest_open, as_of),
        open_accounts="open_accounts",
    )


def _count(table: ir.Table, predicate: ir.BooleanValue | None, name: str) -> ir.Table:
    chosen = table if predicate is None else table.filter(predicate)
    return chosen.group_by("subject_id").aggregate(**{name: chosen.count()})


def _not_ended(day_column: ir.DateValue, as_of: date) -> ir.BooleanValue:
    return day_column.isnull() | (day_column > ibis.date(as_of))


def _public_record_features(items: Mapping[str, ir.Table], as_of: date) -> list[ir.Table]:
    day = ibis.date(as_of)
    judgments = items["court_judgment"]
    enforcement = items["enforcement_case"]
    listings = items["dishonest_debtor_listing"]
    penalties = items["administrative_penalty"]
    tax = items["tax_arrears"]
    utility = items["utility_arrears"]
    insurance = items["social_insurance_status"]
    licences = items["administrative_licence"]
    commendations = items["commendation"]
    in_arrears = insurance.filter(insurance.status == "in_arrears")
    return [
        _count(
            judgments,
            (judgments.role == "defendant") & (judgments.outcome == "judgment_against"),
            "judgments",
        ),
        _count(
            enforcement,
            enforcement.status.isin(("open", "suspended"))
            & _not_ended(enforcement.closed_date, as_of),
            "enforcement_cases",
        ),
        _count(
            listings,
            _not_ended(listings.removal_date, as_of)
            & (listings.term_end_date.isnull() | (listings.term_end_date >= day)),
            "list_entries",
        ),
        _count(penalties, None, "penalties"),
        _count(penalties, penalties.severity == "serious", "penalties_serious"),
        _count(penalties, penalties.severity == "general", "penalties_general"),
        _count(penalties, penalties.severity == "minor", "penalties_minor"),
        _count(tax, _not_ended(tax.paid_date, as_of), "tax_arrears"),
        _count(utility, _not_ended(utility.paid_date, as_of), "utility_arrears"),
        in_arrears.group_by("subject_id").aggregate(
            social_insurance_arrears_months=in_arrears.months_in_arrears.fill_null(0).max()
        ),
        _count(licences, licences.status == "revoked", "licences_revoked"),
        _count(
            commendations,
            commendations.valid_until.isnull() | (commendations.valid_until >= day),
            "commendations",
        ),
    ]


def _tax_grade_features(grades: ir.Table) -> ir.Table:
    rank = ibis.cases(
        *((grades.grade == grade, value) for grade, value in TAX_GRADE_RANKS.items()),
        else_=ibis.null("int64"),
    )
    yearly = (
        grades.mutate(rank=rank)
        .group_by(["subject_id", "tax_year"])
        .aggregate(rank=lambda t: t.rank.max())
    )
    ordered = yearly.mutate(
        position=ibis.row_number().over(
            group_by=yearly.subject_id, order_by=ibis.desc(yearly.tax_year)
        )
    )
    latest = ordered.filter(ordered.position == 0).select("subject_id", latest_rank="rank")
    previous = ordered.filter(ordered.position == 1).select(
        previous_id="subject_id", previous_rank="rank"
    )
    joined = latest.left_join(previous, latest.subject_id == previous.previous_id)
    return joined.select(
        "subject_id",
        tax_grade_latest=joined.latest_rank,
        tax_grade_trend=joined.latest_rank - joined.previous_rank,
    )


def _years_on_file(items: Mapping[str, ir.Table], as_of: date) -> ir.Table:
    def dated(table: ir.Table, column: ir.DateValue) -> ir.Table:
        return table.select("subject_id", day=column).filter(lambda t: t.day.notnull())

    grades = items["tax_credit_grade"]
    parts = [
        dated(items["credit_account"], items["credit_account"].open_date),
        dated(items["administrative_licence"], items["administrative_licence"].decision_date),
        dated(items["social_insurance_status"], items["social_insurance_status"].first_paid_month),
        dated(items["commendation"], items["commendation"].award_date),
        dated(grades, ibis.date(grades.tax_year.cast("int32"), 1, 1)),
    ]
    days = reduce(lambda left, right: left.union(right, distinct=False), parts)
    first = days.group_by("subject_id").aggregate(first_day=days.day.min())
    elapsed = ibis.date(as_of).delta(first.first_day, unit="day")
    return first.select(
        "subject_id",
        years_on_file=(ibis.greatest(elapsed, 0).cast("float64") / 365.25).round(2),
    )


def _inquiry_features(inquiries: ir.Table, as_of: date, profile: JurisdictionProfile) -> ir.Table:
    cutoff = profile.end_of_day(as_of)
    start = profile.end_of_day(_months_before(as_of, 6))
    hard = profile.hard_inquiry_purposes
    recent = inquiries.filter(
        inquiries.occurred_at >= ibis.timestamp(start),
        inquiries.occurred_at < ibis.timestamp(cutoff),
        inquiries.purpose.isin(hard) if hard else ibis.literal(False),
    )
    return recent.group_by("subject_id").aggregate(hard_inquiries_6m=recent.count())


def _months_before(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    for candidate in range(day.day, 0, -1):
        try:
            return date(year, month + 1, candidate)
        except ValueError:
            continue
    raise AssertionError("unreachable")  # pragma: no cover


# Features that are 0, not missing, for a subject with nothing of their kind on file.
_ZERO_WHEN_ABSENT: Final = frozenset(
    {
        "hard_inquiries_6m",
        "judgments",
        "enforcement_cases",
        "list_entries",
        "penalties",
        "penalties_serious",
        "penalties_general",
        "penalties_minor",
        "tax_arrears",
        "utility_arrears",
        "social_insurance_arrears_months",
        "licences_revoked",
        "commendations",
    }
)


def feature_table(
    inputs: FeatureInputs, segment: str, as_of: date, profile: JurisdictionProfile
) -> ir.Table:
    """One row per subject of ``segment``: ``subject_id`` and the segment's features."""
    chosen = _require_segment(segment)
    names = feature_names(chosen)
    subjects = inputs.subjects.filter(inputs.subjects.kind.isin(SEGMENT_KINDS[chosen]))
    parts: list[ir.Table] = [
        _account_features(inputs.items["credit_account"], as_of),
        *_public_record_features(inputs.items, as_of),
        _inquiry_features(inputs.inquiries, as_of, profile),
    ]
    if chosen == "enterprise":
        parts.append(_tax_grade_features(inputs.items["tax_credit_grade"]))
        parts.append(_years_on_file(inputs.items, as_of))
    result = subjects.select("subject_id")
    for part in parts:
        wanted = [name for name in part.columns if name in names]
        if not wanted:
            continue
        renamed = part.select(_part_id=part.subject_id, **{name: part[name] for name in wanted})
        result = result.left_join(renamed, result.subject_id == renamed._part_id).drop("_part_id")
    columns: dict[str, ir.Value] = {}
    for name in names:
        value = result[name].cast("float64")
        columns[name] = value.fill_null(0.0) if name in _ZERO_WHEN_ABSENT else value
    return result.select("subject_id", **columns).order_by("subject_id")


# --- running them --------------------------------------------------------------------------------

_local = threading.local()
_SQL_CACHE: dict[tuple[str, date, str, str], str] = {}
_SQL_CACHE_LOCK = threading.Lock()
_SQL_CACHE_SIZE: Final = 64


class _OnlineConnection:
    """This thread's in-memory DuckDB for online features, with its prepared queries.

    One subject's rows are a few dozen: a single DuckDB thread runs them faster than a
    pool, and a query prepared once skips parsing and planning 45 kB of SQL on every call
    (DuckDB rebinds it when the registered tables change).
    """

    LIMIT = 8  # distinct (segment, date, profile) queries kept prepared

    def __init__(self) -> None:
        import duckdb

        self.con = duckdb.connect(config={"threads": 1})
        self.prepared: dict[str, str] = {}
        self.serial = 0

    def run(self, sql: str) -> list[dict[str, Any]]:
        name = self.prepared.get(sql)
        if name is None:
            if len(self.prepared) >= self.LIMIT:
                oldest = next(iter(self.prepared))
                self.con.execute(f"DEALLOCATE {self.prepared.pop(oldest)}")
            self.serial += 1
            name = f"online_features_{self.serial}"
            self.con.execute(f"PREPARE {name} AS {sql}")
            self.prepared[sql] = name
        cursor = self.con.execute(f"EXECUTE {name}")
        columns = [column[0] for column in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def _duckdb() -> _OnlineConnection:
    """This thread's online connection (DuckDB connections are not shared across threads)."""
    online: _OnlineConnection | None = getattr(_local, "duckdb", None)
    if online is None:
        online = _OnlineConnection()
        _local.duckdb = online
    return online


def _online_table_name(code: str) -> str:
    return f"items_{code}"


def _online_sql(segment: Segment, as_of: date, profile: JurisdictionProfile) -> str:
    """The features query of one subject, compiled once per segment, date and profile.

    The expression is the same as in batch, over unbound tables that each call fills with
    the subject's rows; compiling it costs far more than running it on a handful of rows.
    """
    key = (segment, as_of, profile.code, profile.version)
    with _SQL_CACHE_LOCK:
        cached = _SQL_CACHE.get(key)
    if cached is not None:
        return cached
    catalog = get_catalog()
    inputs = FeatureInputs(
        subjects=ibis.table(ibis.Schema.from_pyarrow(SUBJECTS_SCHEMA), name="subjects_in"),
        inquiries=ibis.table(ibis.Schema.from_pyarrow(INQUIRIES_SCHEMA), name="inquiries_in"),
        items={
            code: ibis.table(
                ibis.Schema.from_pyarrow(items_schema(record_type)), name=_online_table_name(code)
            )
            for code, record_type in catalog.record_types.items()
        },
    )
    sql = str(ibis.to_sql(feature_table(inputs, segment, as_of, profile), dialect="duckdb"))
    with _SQL_CACHE_LOCK:
        if len(_SQL_CACHE) >= _SQL_CACHE_SIZE:
            _SQL_CACHE.clear()
        _SQL_CACHE[key] = sql
    return sql


def snapshot_inputs(
    con: Any, directory: Path, as_of: date, profile: JurisdictionProfile
) -> FeatureInputs:
    """The feature inputs of a snapshot, as of ``as_of``, on the Ibis backend ``con``."""
    manifest = read_snapshot_manifest(directory)
    if manifest.taken_at < profile.end_of_day(as_of) and as_of > profile.today(manifest.taken_at):
        raise InvalidScoringDataError(
            f"the snapshot was taken on {profile.today(manifest.taken_at).isoformat()}; "
            f"it cannot give features as of the later date {as_of.isoformat()}"
        )
    repaired_path = directory / REPAIRED_FILE
    repaired = con.read_parquet(repaired_path) if repaired_path.exists() else None
    items = {
        record_type.code: point_in_time_items(
            con.read_parquet(path), record_type, as_of, profile, repaired
        )
        for record_type, path in iter_version_files(directory)
    }
    return FeatureInputs(
        subjects=con.read_parquet(directory / SUBJECTS_FILE),
        items=items,
        inquiries=con.read_parquet(directory / INQUIRIES_FILE),
    )


def batch_features(
    directory: Path, segment: str, as_of: date, profile: JurisdictionProfile, *, con: Any = None
) -> pa.Table:
    """Features of every subject of ``segment`` in a snapshot, as of ``as_of``."""
    backend = con if con is not None else ibis.duckdb.connect()
    inputs = snapshot_inputs(backend, directory, as_of, profile)
    return backend.to_pyarrow(feature_table(inputs, segment, as_of, profile))


def subject_inputs(
    session: Session,
    keys: KeyRing,
    profile: JurisdictionProfile,
    subject: Subject,
    as_of: date,
) -> dict[str, pa.Table]:
    """One subject's items as of ``as_of`` from the database, as Arrow tables."""
    from xinyong.reports.service import assemble_file

    catalog = get_catalog()
    credit_file = assemble_file(session, keys, profile, subject, as_of)
    from xinyong.rights.repaired import repaired_record_ids

    repaired = repaired_record_ids(
        session, [item.record.id for item in credit_file.items], before=credit_file.cutoff
    )
    rows: dict[str, list[dict[str, Any]]] = {code: [] for code in catalog.record_types}
    for item in credit_file.items:
        if item.record.id in repaired:
            continue
        record_type = catalog.record_type(item.record.record_type)
        rows[record_type.code].append(
            {
                "record_id": item.record.id,
                "subject_id": subject.id,
                **typed_fields(record_type, item.fields),
            }
        )
    tables = {
        code: pa.Table.from_pylist(rows[code], schema=items_schema(record_type))
        for code, record_type in catalog.record_types.items()
    }
    hard = profile.hard_inquiry_purposes
    inquiries = [
        {"subject_id": subject.id, "occurred_at": as_utc(occurred_at), "purpose": purpose}
        for occurred_at, purpose in session.execute(
            select(QueryRecord.occurred_at, QueryRecord.purpose).where(
                QueryRecord.subject_id == subject.id,
                QueryRecord.outcome == "served",
                QueryRecord.product.in_(INQUIRY_PRODUCTS),
                QueryRecord.purpose.in_(hard),
                QueryRecord.occurred_at < credit_file.cutoff,
            )
        )
    ]
    tables["__subjects__"] = pa.Table.from_pylist(
        [{"subject_id": subject.id, "kind": subject.kind}], schema=SUBJECTS_SCHEMA
    )
    tables["__inquiries__"] = pa.Table.from_pylist(inquiries, schema=INQUIRIES_SCHEMA)
    return tables


def subject_features(
    session: Session,
    keys: KeyRing,
    profile: JurisdictionProfile,
    subject: Subject,
    as_of: date,
) -> dict[str, float | None]:
    """One subject's features as of ``as_of``, computed from the database.

    Runs the same expressions as :func:`batch_features` on an in-memory DuckDB.
    """
    tables = subject_inputs(session, keys, profile, subject, as_of)
    sql = _online_sql(segment_of_kind(subject.kind), as_of, profile)
    online = _duckdb()
    online.con.register("subjects_in", tables.pop("__subjects__"))
    online.con.register("inquiries_in", tables.pop("__inquiries__"))
    for code, table in tables.items():
        online.con.register(_online_table_name(code), table)
    result = online.run(sql)
    if len(result) != 1:  # pragma: no cover - one subject in, one row out
        raise InvalidScoringDataError(f"expected one feature row, got {len(result)}")
    row = result[0]
    row.pop("subject_id")
    return {name: _plain(value) for name, value in row.items()}


def _plain(value: Any) -> float | None:
    return None if value is None else float(value)


__all__ = [
    "FEATURES",
    "FEATURE_SET",
    "SEGMENTS",
    "SEGMENT_KINDS",
    "FeatureDefinition",
    "FeatureInputs",
    "batch_features",
    "feature_names",
    "feature_table",
    "point_in_time_items",
    "segment_of_kind",
    "subject_features",
    "subject_inputs",
]

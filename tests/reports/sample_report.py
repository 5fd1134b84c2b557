"""Hand-built credit reports for the rendering tests: no database, realistic content.

:func:`person_report` is a personal report with two accounts (one with overdue months in its
grid), a judgment that the subject disputes, a penalty, a statement and query records;
:func:`enterprise_report` an enterprise report, in full or public-only coverage.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from typing import Any

from xinyong.reports.schemas import (
    AccountSummary,
    Annotations,
    Coverage,
    CreditReport,
    Digest,
    DisputeAnnotation,
    FurnisherRef,
    ItemStatement,
    Lang,
    MoneyTotal,
    ProfileRef,
    PublicRecords,
    QueryEntry,
    QuerySummary,
    RecordTypeCount,
    ReportItem,
    ReportScore,
    ReportSubject,
    Requester,
    RequesterKind,
    ScoreReason,
    StatementAnnotation,
    Summary,
)

PROFILE = ProfileRef(code="cn", version="2026.11.1")
BANK = FurnisherRef(code="bank-xinghe-demo", name="兴和银行", name_en="Xinghe Bank")
CARD_ISSUER = FurnisherRef(code="bank-dongfang-demo", name="东方商业银行", name_en=None)
COURT = FurnisherRef(code="court-haidian", name="北京市海淀区人民法院", name_en="Haidian Court")
SAMR = FurnisherRef(code="samr-beijing", name="北京市市场监督管理局", name_en="Beijing SAMR")
TAX = FurnisherRef(code="tax-hangzhou", name="国家税务总局杭州市税务局", name_en="Hangzhou Tax")

SUBJECT_NAME = "张伟"
ENTERPRISE_NAME = "杭州云栖示例科技有限公司"
STATEMENT_TEXT = "2024年因失业导致信用卡逾期，已于2024年6月全部还清。"
# The credit card's grid ends in 2026-10: 2021-11 and 2021-12 unknown (opened 2022-01),
# overdue 1-2-3 months in 2024-01..2024-03, normal otherwise.
CARD_GRID = "##" + "N" * 24 + "123" + "N" * 31
MORTGAGE_GRID = "N" * 60
CARD_OVERDUE_MONTH = "2024-03"  # code "3"


def _at(day: str, time: str = "10:00:00") -> datetime:
    return datetime.fromisoformat(f"{day}T{time}").replace(tzinfo=UTC)


def _item(
    record_id: int,
    record_type: str,
    furnisher: FurnisherRef,
    fields: dict[str, Any],
    *,
    negative: bool = False,
    valid_from: str = "2024-01-01",
    **extra: Any,
) -> ReportItem:
    return ReportItem(
        record_id=record_id,
        record_type=record_type,
        record_key=f"{record_type[:4].upper()}-{record_id:06d}",
        furnisher=furnisher,
        version=1,
        reported_at=_at("2026-11-02"),
        valid_from=date.fromisoformat(valid_from),
        valid_to=None,
        negative=negative,
        fields=fields,
        content_hash=hashlib.sha256(str(record_id).encode()).hexdigest(),
        **extra,
    )


def with_digest(report: CreditReport) -> CreditReport:
    """``report`` with its digest computed as docs/reports.md describes."""
    document = report.model_dump(mode="json", exclude={"digest"})
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    value = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return report.model_copy(update={"digest": Digest(value=value)})


def _mortgage() -> ReportItem:
    return _item(
        1001,
        "credit_account",
        BANK,
        {
            "account_type": "loan",
            "loan_kind": "mortgage",
            "currency": "CNY",
            "credit_limit": "1200000.00",
            "balance": "856432.10",
            "overdue_amount": "0.00",
            "overdue_months": 0,
            "open_date": "2019-05-20",
            "due_date": "2049-05-20",
            "guarantee_type": "mortgage",
            "status": "normal",
            "grid_end_month": "2026-10",
            "repayment_grid": MORTGAGE_GRID,
            "info_date": "2026-10-31",
        },
        valid_from="2019-05-20",
    )


def _credit_card() -> ReportItem:
    return _item(
        1002,
        "credit_account",
        CARD_ISSUER,
        {
            "account_type": "credit_card",
            "currency": "CNY",
            "credit_limit": "50000.00",
            "balance": "3200.00",
            "overdue_amount": "0.00",
            "overdue_months": 0,
            "open_date": "2022-01-08",
            "guarantee_type": "unsecured",
            "status": "normal",
            "grid_end_month": "2026-10",
            "repayment_grid": CARD_GRID,
            "info_date": "2026-10-31",
        },
        valid_from="2022-01-08",
        statements=[ItemStatement(statement_id=71, text=STATEMENT_TEXT, made_at=_at("2024-07-01"))],
    )


def _judgment(record_id: int = 2001, *, disputed: bool = True) -> ReportItem:
    return _item(
        record_id,
        "court_judgment",
        COURT,
        {
            "case_number": "(2025)京0108民初12345号",
            "court": "北京市海淀区人民法院",
            "cause": "民间借贷纠纷",
            "role": "defendant",
            "judgment_date": "2025-03-18",
            "effective_date": "2025-04-10",
            "amount": "86000.00",
            "outcome": "judgment_against",
        },
        negative=True,
        valid_from="2025-04-10",
        disputed=disputed,
    )


def _penalty(record_id: int = 3001) -> ReportItem:
    return _item(
        record_id,
        "administrative_penalty",
        SAMR,
        {
            "decision_number": "京市监罚〔2025〕88号",
            "violation_type": "未按规定公示年度报告",
            "penalty_type": "fine",
            "fine_amount": "5000.00",
            "severity": "general",
            "authority": "北京市市场监督管理局",
            "decision_date": "2025-08-01",
            "performed_date": "2025-08-20",
        },
        negative=True,
        valid_from="2025-08-01",
    )


def _queries() -> list[QueryEntry]:
    return [
        QueryEntry(
            occurred_at=_at("2026-11-27", "02:15:00"),
            requester_kind=RequesterKind.INSTITUTION,
            institution_code="bank-xinghe-demo",
            institution_name="兴和银行",
            purpose="loan_approval",
            product="report",
        ),
        QueryEntry(
            occurred_at=_at("2026-06-03"),
            requester_kind=RequesterKind.INSTITUTION,
            institution_code="bank-dongfang-demo",
            institution_name="东方商业银行",
            purpose="post_loan_management",
            product="report",
        ),
        QueryEntry(
            occurred_at=_at("2026-02-14"),
            requester_kind=RequesterKind.SUBJECT,
            institution_code=None,
            institution_name=None,
            purpose="subject_request",
            product="report",
        ),
    ]


def person_report(lang: Lang = Lang.ZH_CN) -> CreditReport:
    """A personal report as a bank sees it for a loan approval."""
    judgment, penalty = _judgment(), _penalty()
    report = CreditReport(
        report_id="R20261127-7Q4M2X",
        generated_at=_at("2026-11-27", "02:15:00"),
        as_of=date(2026, 11, 27),
        lang=lang,
        profile=PROFILE,
        coverage=Coverage.FULL,
        chargeable=True,
        subject=ReportSubject(
            subject_id=42,
            kind="person",
            name=SUBJECT_NAME,
            name_en="Zhang Wei",
            identifier_type="resident_id",
            identifier="110108********0016",
            identifier_masked=True,
        ),
        requester=Requester(
            kind=RequesterKind.INSTITUTION,
            institution_code="bank-xinghe-demo",
            institution_name="兴和银行",
            operator_user="loan-officer-17",
            purpose="loan_approval",
            consent_id=41,
            query_record_id=9001,
        ),
        summary=Summary(
            accounts=AccountSummary(
                total=2,
                open=2,
                closed=0,
                loans=1,
                credit_cards=1,
                currently_overdue=0,
                credit_limit=[MoneyTotal(currency="CNY", amount="1250000.00")],
                balance=[MoneyTotal(currency="CNY", amount="859632.10")],
                overdue_amount=[],
                worst_current_status="N",
                worst_status_24_months="N",
                worst_status_60_months="3",
            ),
            public_records=[
                RecordTypeCount(record_type="court_judgment", total=1, negative=1),
                RecordTypeCount(record_type="administrative_penalty", total=1, negative=1),
            ],
            negative_items=2,
            queries=QuerySummary(
                institution_queries_12_months={"loan_approval": 1, "post_loan_management": 1},
                subject_queries_12_months=1,
            ),
        ),
        credit_accounts=[_mortgage(), _credit_card()],
        public_records=PublicRecords(
            court_judgments=[judgment], administrative_penalties=[penalty]
        ),
        annotations=Annotations(
            disputes=[
                DisputeAnnotation(
                    record_id=judgment.record_id,
                    record_type="court_judgment",
                    status="under_review",
                    opened_at=_at("2026-11-20"),
                    due_at=_at("2026-12-10"),
                )
            ],
            statements=[
                StatementAnnotation(
                    statement_id=71,
                    record_id=1002,
                    record_type="credit_account",
                    text=STATEMENT_TEXT,
                    made_at=_at("2024-07-01"),
                )
            ],
        ),
        query_records=_queries(),
        score=ReportScore(
            score_id=41,
            model_name="person-scorecard",
            model_version=3,
            outcome="scored",
            score=612.0,
            reasons=[
                ScoreReason(
                    code="R_MONTHS_OVERDUE_24M",
                    characteristic="months_overdue_24m",
                    points_lost=38.0,
                ),
                ScoreReason(
                    code="R_CREDIT_UTILISATION",
                    characteristic="credit_utilisation",
                    points_lost=21.0,
                ),
                ScoreReason(code="R_JUDGMENTS", characteristic="judgments", points_lost=12.0),
                ScoreReason(
                    code="R_OPEN_ACCOUNTS", characteristic="open_accounts", points_lost=5.0
                ),
                ScoreReason(
                    code="R_HARD_INQUIRIES_6M", characteristic="hard_inquiries_6m", points_lost=3.0
                ),
            ],
        ),
        digest=Digest(value="0" * 64),
    )
    return with_digest(report)


def empty_person_report(lang: Lang = Lang.ZH_CN) -> CreditReport:
    """A person with nothing on file: every list section is empty."""
    report = person_report(lang)
    empty_summary = report.summary.model_copy(
        update={
            "accounts": AccountSummary(
                total=0,
                open=0,
                closed=0,
                loans=0,
                credit_cards=0,
                currently_overdue=0,
                credit_limit=[],
                balance=[],
                overdue_amount=[],
                worst_current_status=None,
                worst_status_24_months=None,
                worst_status_60_months=None,
            ),
            "public_records": [],
            "negative_items": 0,
            "queries": QuerySummary(institution_queries_12_months={}, subject_queries_12_months=0),
        }
    )
    return with_digest(
        report.model_copy(
            update={
                "summary": empty_summary,
                "credit_accounts": [],
                "public_records": PublicRecords(),
                "annotations": Annotations(),
                "query_records": [],
                "score": None,
            }
        )
    )


def enterprise_report(
    lang: Lang = Lang.ZH_CN, *, coverage: Coverage = Coverage.FULL
) -> CreditReport:
    """An enterprise report; ``public_only`` leaves out what is not public by law."""
    public_only = coverage is Coverage.PUBLIC_ONLY
    grade = _item(
        4001,
        "tax_credit_grade",
        TAX,
        {"tax_year": 2025, "grade": "A", "score": 95, "authority": "国家税务总局杭州市税务局"},
        valid_from="2026-04-15",
    )
    licence = _item(
        4002,
        "administrative_licence",
        SAMR,
        {
            "decision_number": "浙食经许〔2024〕0031号",
            "licence_name": "食品经营许可证",
            "licence_category": "general",
            "content": "预包装食品销售（不含冷藏冷冻食品）",
            "authority": "杭州市西湖区市场监督管理局",
            "decision_date": "2024-03-01",
            "valid_until": "2029-02-28",
            "status": "valid",
        },
    )
    enforcement = _item(
        4003,
        "enforcement_case",
        COURT,
        {
            "case_number": "(2025)浙0106执1234号",
            "court": "杭州市西湖区人民法院",
            "filed_date": "2025-06-02",
            "amount_due": "120000.00",
            "amount_performed": "40000.00",
            "status": "open",
        },
        negative=True,
    )
    listing = _item(
        4004,
        "dishonest_debtor_listing",
        COURT,
        {
            "case_number": "(2025)浙0106执1234号",
            "court": "杭州市西湖区人民法院",
            "ground": "able_but_refuses",
            "obligation": "支付货款人民币120000元及利息。",
            "performance": "partially_performed",
            "listing_date": "2025-09-01",
        },
        negative=True,
    )
    business_loan = _item(
        4005,
        "credit_account",
        BANK,
        {
            "account_type": "loan",
            "loan_kind": "business",
            "currency": "CNY",
            "credit_limit": "3000000.00",
            "balance": "1800000.00",
            "overdue_amount": "0.00",
            "open_date": "2023-02-01",
            "guarantee_type": "combination",
            "status": "normal",
            "grid_end_month": "2026-10",
            "repayment_grid": "#" * 15 + "N" * 45,
            "info_date": "2026-10-31",
        },
    )
    arrears = _item(
        4006,
        "tax_arrears",
        TAX,
        {
            "tax_type": "vat",
            "amount": "23500.00",
            "since_date": "2026-05-16",
            "authority": "国家税务总局杭州市西湖区税务局",
        },
        negative=True,
    )
    records = PublicRecords(
        tax_credit_grades=[grade],
        administrative_licences=[licence],
        administrative_penalties=[_penalty(4007)],
        court_judgments=[_judgment(4008, disputed=False)],
        enforcement_cases=[enforcement],
        dishonest_debtor_listings=[listing],
        tax_arrears=[] if public_only else [arrears],
    )
    report = CreditReport(
        report_id="R20261127-ENT9K3",
        generated_at=_at("2026-11-27", "03:00:00"),
        as_of=date(2026, 11, 27),
        lang=lang,
        profile=PROFILE,
        coverage=coverage,
        chargeable=False,
        subject=ReportSubject(
            subject_id=5150,
            kind="enterprise",
            name=ENTERPRISE_NAME,
            name_en="Hangzhou Yunqi Example Technology Co., Ltd.",
            identifier_type="uscc",
            identifier="91330106MA2GL1RQ5B",
            identifier_masked=False,
        ),
        requester=Requester(
            kind=RequesterKind.INSTITUTION,
            institution_code="bank-xinghe-demo",
            institution_name="兴和银行",
            purpose="loan_approval",
            consent_id=None if public_only else 77,
            query_record_id=9002,
        ),
        summary=Summary(
            accounts=AccountSummary(
                total=0 if public_only else 1,
                open=0 if public_only else 1,
                closed=0,
                loans=0 if public_only else 1,
                credit_cards=0,
                currently_overdue=0,
                credit_limit=[]
                if public_only
                else [MoneyTotal(currency="CNY", amount="3000000.00")],
                balance=[] if public_only else [MoneyTotal(currency="CNY", amount="1800000.00")],
                overdue_amount=[],
                worst_current_status=None if public_only else "N",
                worst_status_24_months=None if public_only else "N",
                worst_status_60_months=None if public_only else "N",
            ),
            public_records=[
                RecordTypeCount(record_type="tax_credit_grade", total=1, negative=0),
                RecordTypeCount(record_type="court_judgment", total=1, negative=1),
            ],
            negative_items=4 if public_only else 5,
            queries=QuerySummary(
                institution_queries_12_months={"loan_approval": 1}, subject_queries_12_months=0
            ),
        ),
        credit_accounts=[] if public_only else [business_loan],
        public_records=records,
        annotations=Annotations(),
        query_records=_queries()[:1],
        digest=Digest(value="0" * 64),
    )
    return with_digest(report)

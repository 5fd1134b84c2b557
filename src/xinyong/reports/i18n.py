"""Words of the HTML and PDF credit reports, in Chinese (zh-CN) and English.

The report JSON carries codes only (schema 1.2); its renderings turn them into words. Field
labels come from the catalog (``label_zh``/``label_en``) and purpose names from the
jurisdiction profile; everything else a reader sees is here. Each entry is a pair
``(zh-CN, en)`` so that a missing translation cannot be written down by accident.

A code without an entry is shown as the code itself: a report never fails to render because
the catalog or a status list grew before this table did (a test lists catalog enum values
without labels).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from xinyong.reports.schemas import Lang

__all__ = [
    "CODE_TABLES",
    "ENUM_VALUES",
    "GRID_CODE_LABELS",
    "TEXT",
    "Label",
    "code_label",
    "enum_label",
    "pick",
    "text",
]

Label = tuple[str, str]
"""A text in zh-CN and in English."""


def pick(label: Label, lang: Lang) -> str:
    """The text of ``label`` in ``lang``."""
    return label[0] if lang is Lang.ZH_CN else label[1]


# --- interface texts ---------------------------------------------------------------------------

TEXT: Final[Mapping[str, Label]] = {
    # titles
    "title.person": ("个人信用报告", "Personal credit report"),
    "title.enterprise": ("企业信用报告", "Enterprise credit report"),
    "title.other_organisation": ("机构信用报告", "Organisation credit report"),
    # sections
    "section.identity": ("身份信息", "Identity"),
    "section.registration": ("身份标识", "Registration and identity"),
    "section.summary": ("信息概要", "Summary"),
    "section.credit_accounts": ("信贷交易信息明细", "Credit accounts"),
    "section.public_records": ("公共信息明细", "Public records"),
    "section.tax_credit_grades": ("纳税信用等级", "Tax credit grades"),
    "section.licences": ("行政许可", "Administrative licences"),
    "section.penalties": ("行政处罚", "Administrative penalties"),
    "section.judgments": ("诉讼及执行信息", "Judgments and enforcement"),
    "section.lists": ("名单信息", "List entries"),
    "section.other_public_records": ("其他公共信息", "Other public records"),
    "section.score": ("信用评分", "Credit score"),
    "score.none": (
        "本报告不含评分（尚无适用的评分模型，或查询授权不含评分）。",
        "No score in this report (no scoring model applies yet, or the consent does not "
        "cover scores).",
    ),
    "score.value": ("评分", "Score"),
    "score.model": ("评分模型", "Scoring model"),
    "score.reasons": ("主要影响因素", "Key factors"),
    "score.code": ("因素代码", "Code"),
    "score.reason": ("说明", "Factor"),
    "score.points_lost": ("失分", "Points lost"),
    "score.U_NO_DATA": ("无法评分：无可用于评分的信用信息", "Unscorable: no credit information"),
    "score.U_REQUIRED_MISSING": (
        "无法评分：缺少评分必需的信息",
        "Unscorable: information required for scoring is missing",
    ),
    "score.U_INSUFFICIENT_HISTORY": (
        "无法评分：信用历史不足",
        "Unscorable: not enough credit history",
    ),
    "section.annotations": ("本人声明及异议标注", "Statements and disputes"),
    "section.query_records": ("查询记录", "Query records"),
    # groups of public records (keys of PUBLIC_RECORD_SECTIONS values)
    "group.tax_credit_grades": ("纳税信用等级", "Tax credit grades"),
    "group.tax_arrears": ("欠税信息", "Tax arrears"),
    "group.court_judgments": ("民事判决记录", "Civil judgments"),
    "group.enforcement_cases": ("强制执行记录", "Enforcement cases"),
    "group.dishonest_debtor_listings": ("失信被执行人", "Dishonest judgment debtor listings"),
    "group.administrative_licences": ("行政许可记录", "Administrative licences"),
    "group.administrative_penalties": ("行政处罚记录", "Administrative penalties"),
    "group.utility_arrears": ("公用事业欠费记录", "Utility arrears"),
    "group.social_insurance": ("社会保险缴费记录", "Social-insurance payments"),
    "group.commendations": ("表彰奖励记录", "Commendations"),
    "group.disputes": ("异议标注", "Disputes"),
    "group.statements": ("本人声明", "Statements of the subject"),
    "group.accounts_summary": ("信贷交易信息概要", "Credit accounts"),
    "group.public_summary": ("公共信息概要", "Public records"),
    "group.query_summary": ("查询记录概要（近12个月）", "Queries (last 12 months)"),
    # header
    "meta.report_id": ("报告编号", "Report number"),
    "meta.generated_at": ("报告时间", "Generated at"),
    "meta.as_of": ("信息截止日期", "Information as of"),
    "meta.profile": ("适用规则", "Jurisdiction profile"),
    "meta.coverage": ("报告范围", "Coverage"),
    "meta.chargeable": ("收费查询", "Chargeable"),
    "meta.digest": ("报告摘要值", "Report digest"),
    "meta.ledger": (
        "记录账本检查点（来源 · 记录数 · 根哈希）",
        "Record ledger checkpoint (origin · size · root hash)",
    ),
    "meta.requester": ("查询者", "Requested by"),
    "meta.purpose": ("查询原因", "Purpose"),
    "meta.operator_user": ("查询操作员", "Operator"),
    "meta.reference": ("法律文书编号", "Legal reference"),
    "meta.consent_id": ("授权编号", "Consent"),
    "meta.query_record_id": ("查询记录编号", "Query record"),
    "meta.verify": (
        "核验方法：以本报告编号和摘要值访问 {url}",
        "Verify at {url} with this digest",
    ),
    "meta.digest_note": (
        "摘要值为报告 JSON（不含 digest 字段）规范化后的 SHA-256 值。",
        "The digest is the SHA-256 of the report's canonical JSON without its digest member.",
    ),
    "coverage.full": ("完整报告", "Full report"),
    "coverage.public_only": ("仅含依法公开的信息", "Information public by law only"),
    "coverage.public_only_notice": (
        "本报告未经信息主体授权查询，仅包含依法公开的信息（如纳税信用等级、行政许可、"
        "行政处罚、司法判决及执行信息）。",
        "This report was made without the subject's consent and contains only information "
        "that is public by law (such as tax credit grades, licences, penalties, judgments "
        "and enforcement).",
    ),
    "page.label": ("第 {page} 页 / 共 {pages} 页", "Page {page} of {pages}"),
    # identity
    "subject.name": ("名称", "Name"),
    "subject.person_name": ("姓名", "Name"),
    "subject.name_en": ("英文名称", "Name in English"),
    "subject.kind": ("主体类型", "Kind of subject"),
    "subject.identifier_type": ("证件类型", "Identifier type"),
    "subject.identifier": ("证件号码", "Identifier"),
    "subject.masked": ("（已脱敏）", "(masked)"),
    "subject.subject_id": ("主体编号", "Subject number"),
    # summary
    "summary.total": ("账户数", "Accounts"),
    "summary.open": ("未结清账户数", "Open"),
    "summary.closed": ("已结清/关闭账户数", "Closed"),
    "summary.loans": ("贷款账户数", "Loans"),
    "summary.credit_cards": ("信用卡账户数", "Credit cards"),
    "summary.currently_overdue": ("当前逾期账户数", "Currently overdue"),
    "summary.credit_limit": ("授信总额", "Total credit limit"),
    "summary.balance": ("余额", "Balance"),
    "summary.overdue_amount": ("逾期金额", "Amount overdue"),
    "summary.worst_current_status": ("当前最差还款状态", "Worst current status"),
    "summary.worst_status_24_months": ("近24个月最差还款状态", "Worst status, 24 months"),
    "summary.worst_status_60_months": ("近60个月最差还款状态", "Worst status, 60 months"),
    "summary.negative_items": ("负面信息条数", "Negative items"),
    "summary.record_type": ("信息类别", "Kind of record"),
    "summary.count": ("条数", "Items"),
    "summary.negative": ("其中负面", "Negative"),
    "summary.purpose": ("查询原因", "Purpose"),
    "summary.institution_queries": ("机构查询次数", "Queries by institutions"),
    "summary.subject_queries": ("本人查询次数", "Queries by the subject"),
    "summary.no_grid": ("无还款记录", "No repayment history"),
    # items
    "item.negative": ("负面信息", "Negative"),
    "item.disputed": ("异议中", "Disputed"),
    "item.repaired": ("已信用修复", "Repaired"),
    "item.furnisher": ("信息提供机构", "Furnished by"),
    "item.record_key": ("业务标识", "Reference"),
    "item.record_id": ("记录编号", "Record"),
    "item.version": ("版本", "Version"),
    "item.reported_at": ("报送时间", "Reported"),
    "item.valid": ("有效期间", "Valid"),
    "item.statement": ("本人声明", "Statement of the subject"),
    "item.account": ("账户", "Account"),
    "grid.title": ("近60个月还款记录", "Repayment history, last 60 months"),
    "grid.year": ("年份", "Year"),
    "grid.legend": ("图例", "Legend"),
    # annotations and queries
    "annotation.record": ("相关记录", "Record"),
    "annotation.status": ("处理状态", "Status"),
    "annotation.opened_at": ("提出时间", "Opened"),
    "annotation.due_at": ("答复期限", "Answer due"),
    "annotation.dispute_text": ("异议内容", "The subject's dispute"),
    "annotation.text": ("声明内容", "Statement"),
    "annotation.made_at": ("声明时间", "Made"),
    "query.occurred_at": ("查询时间", "Date"),
    "query.requester": ("查询者", "Requested by"),
    "query.purpose": ("查询原因", "Purpose"),
    "query.product": ("查询产品", "Product"),
    # values
    "value.yes": ("是", "Yes"),
    "value.no": ("否", "No"),
    "value.none": ("—", "—"),
    "value.no_records": ("无记录", "No records"),
    "value.not_covered": (
        "不在本报告范围内（仅含依法公开的信息）",
        "Not included: this report has information public by law only",
    ),
    "value.open_ended": ("至今", "open-ended"),
}


def text(key: str, lang: Lang, **values: object) -> str:
    """The interface text ``key`` in ``lang``, with ``{name}`` placeholders filled in."""
    template = pick(TEXT[key], lang)
    return template.format(**values) if values else template


# --- codes of the report schema ---------------------------------------------------------------

CODE_TABLES: Final[Mapping[str, Mapping[str, Label]]] = {
    "subject_kind": {
        "person": ("个人", "Person"),
        "enterprise": ("企业", "Enterprise"),
        "other_organisation": ("其他组织", "Other organisation"),
    },
    "identifier_type": {
        "resident_id": ("居民身份证", "Resident identity card"),
        "uscc": ("统一社会信用代码", "Unified social credit code"),
    },
    "requester_kind": {
        "institution": ("机构", "Institution"),
        "subject": ("本人", "The subject"),
        "operator": ("征信机构", "Credit bureau operator"),
    },
    "product": {
        "report": ("信用报告", "Credit report"),
        "score": ("信用评分", "Credit score"),
    },
    # The outcomes of 征信业管理条例 Art. 25 (RULES.md 10): corrected, confirmed (flag
    # removed) or left unresolved with the dispute text kept alongside.
    "dispute_status": {
        "open": ("处理中", "Open"),
        "under_review": ("核查中", "Under review"),
        "corrected": ("已更正", "Corrected"),
        "confirmed": ("经核查无误", "Confirmed as reported"),
        "unresolved": ("未能核实", "Unresolved"),
        "deleted": ("已删除", "Deleted"),
        "withdrawn": ("已撤回", "Withdrawn"),
    },
}


def code_label(table: str, code: str, lang: Lang) -> str:
    """The words for ``code`` of a report-schema code table; the code itself if unknown."""
    label = CODE_TABLES[table].get(code)
    return pick(label, lang) if label is not None else code


# PBoC second-generation report grid codes (RULES.md 28).
GRID_CODE_LABELS: Final[Mapping[str, Label]] = {
    "N": ("正常还款", "Paid as agreed"),
    "1": ("逾期1个月", "1 month overdue"),
    "2": ("逾期2个月", "2 months overdue"),
    "3": ("逾期3个月", "3 months overdue"),
    "4": ("逾期4个月", "4 months overdue"),
    "5": ("逾期5个月", "5 months overdue"),
    "6": ("逾期6个月", "6 months overdue"),
    "7": ("逾期7个月及以上", "7 or more months overdue"),
    "D": ("担保人代还", "Paid by guarantor"),
    "Z": ("以资抵债", "Settled with assets"),
    "C": ("结清", "Closed"),
    "G": ("结束（结清以外的原因）", "Terminated"),
    "#": ("未知", "Unknown"),
}


# --- enum values of the catalog, by record type and field ---------------------------------------

# Keyed by record type and field because the same code means different things in different
# places ("mortgage" is a kind of loan and a kind of guarantee; "suspended" enforcement is not
# a suspended insurance payment).
ENUM_VALUES: Final[Mapping[str, Mapping[str, Mapping[str, Label]]]] = {
    "credit_account": {
        "account_type": {"loan": ("贷款", "Loan"), "credit_card": ("信用卡", "Credit card")},
        "loan_kind": {
            "mortgage": ("个人住房贷款", "Mortgage"),
            "auto": ("汽车贷款", "Auto loan"),
            "consumer": ("消费贷款", "Consumer loan"),
            "business": ("经营贷款", "Business loan"),
            "student": ("助学贷款", "Student loan"),
            "revolving": ("循环贷款", "Revolving credit"),
            "other": ("其他贷款", "Other"),
        },
        "guarantee_type": {
            "unsecured": ("信用/免担保", "Unsecured"),
            "guarantee": ("保证", "Guarantee"),
            "mortgage": ("抵押", "Mortgage"),
            "pledge": ("质押", "Pledge"),
            "combination": ("组合（含保证）", "Combination"),
            "other": ("其他", "Other"),
        },
        "status": {
            "normal": ("正常", "Current"),
            "overdue": ("逾期", "Overdue"),
            "closed": ("结清", "Closed"),
            "bad_debt": ("呆账", "Bad debt"),
            "transferred": ("转出", "Transferred"),
            "paid_by_guarantor": ("担保人代还", "Paid by guarantor"),
            "settled_with_assets": ("以资抵债", "Settled with assets"),
        },
    },
    "tax_credit_grade": {
        "grade": {
            "A": ("A级", "A"),
            "B": ("B级", "B"),
            "M": ("M级", "M"),
            "C": ("C级", "C"),
            "D": ("D级", "D"),
        },
    },
    "tax_arrears": {
        "tax_type": {
            "vat": ("增值税", "Value-added tax"),
            "corporate_income": ("企业所得税", "Corporate income tax"),
            "individual_income": ("个人所得税", "Individual income tax"),
            "consumption": ("消费税", "Consumption tax"),
            "property": ("房产税", "Property tax"),
            "stamp": ("印花税", "Stamp duty"),
            "other": ("其他税种", "Other"),
        },
    },
    "court_judgment": {
        "role": {
            "defendant": ("被告", "Defendant"),
            "plaintiff": ("原告", "Plaintiff"),
            "third_party": ("第三人", "Third party"),
        },
        "outcome": {
            "judgment_against": ("判决败诉", "Judgment against the subject"),
            "judgment_for": ("判决胜诉", "Judgment for the subject"),
            "settled": ("调解结案", "Settled"),
            "withdrawn": ("撤诉", "Withdrawn"),
            "other": ("其他", "Other"),
        },
    },
    "enforcement_case": {
        "status": {
            "open": ("执行中", "Open"),
            "closed_performed": ("执行完毕", "Closed, performed"),
            "terminated": ("终结执行", "Terminated"),
            "suspended": ("中止执行", "Suspended"),
        },
    },
    "dishonest_debtor_listing": {
        # 法释〔2017〕7号 Art. 1.
        "ground": {
            "able_but_refuses": ("有履行能力而拒不履行", "Able to perform but refuses"),
            "obstructs_enforcement": (
                "以伪造证据、暴力、威胁等方法妨碍、抗拒执行",
                "Obstructs or resists enforcement",
            ),
            "evades_enforcement": (
                "以虚假诉讼、虚假仲裁或者隐匿、转移财产等方法规避执行",
                "Evades enforcement",
            ),
            "false_asset_report": ("违反财产报告制度", "False or missing asset report"),
            "breaches_spending_ban": ("违反限制消费令", "Breaches the spending restriction"),
            "breaches_settlement": (
                "无正当理由拒不履行执行和解协议",
                "Breaches the enforcement settlement",
            ),
        },
        "performance": {
            "not_performed": ("全部未履行", "Not performed"),
            "partially_performed": ("部分未履行", "Partly performed"),
            "performed": ("已履行", "Performed"),
        },
        "removal_reason": {
            "performed": ("已履行义务", "Obligation performed"),
            "term_expired": ("失信期限届满", "Listing term ended"),
            "revoked": ("撤销纳入决定", "Listing revoked"),
            "settlement": ("达成执行和解", "Enforcement settlement"),
            "other": ("其他", "Other"),
        },
    },
    "administrative_licence": {
        "licence_category": {
            "general": ("普通", "General"),
            "special": ("特许", "Special"),
            "certification": ("认可/认证", "Certification"),
            "registration": ("登记", "Registration"),
            "other": ("其他", "Other"),
        },
        "status": {
            "valid": ("有效", "Valid"),
            "expired": ("已过期", "Expired"),
            "revoked": ("已撤销", "Revoked"),
            "cancelled": ("已注销", "Cancelled"),
        },
    },
    "administrative_penalty": {
        "penalty_type": {
            "warning": ("警告", "Warning"),
            "public_criticism": ("通报批评", "Public criticism"),
            "fine": ("罚款", "Fine"),
            "confiscation": ("没收违法所得、没收非法财物", "Confiscation"),
            "suspension": ("暂扣许可证件", "Licence suspended"),
            "licence_revocation": ("吊销许可证件", "Licence revoked"),
            "business_restriction": (
                "限制开展生产经营活动、责令停产停业",
                "Business restricted or suspended",
            ),
            "detention": ("行政拘留", "Administrative detention"),
            "other": ("其他", "Other"),
        },
        "severity": {
            "minor": ("轻微", "Minor"),
            "general": ("一般", "General"),
            "serious": ("严重", "Serious"),
        },
    },
    "utility_arrears": {
        "utility": {
            "water": ("水费", "Water"),
            "electricity": ("电费", "Electricity"),
            "gas": ("燃气费", "Gas"),
            "heating": ("供暖费", "Heating"),
            "telecom": ("电信费", "Telecommunications"),
        },
    },
    "social_insurance_status": {
        "insurance_type": {
            "pension": ("养老保险", "Pension"),
            "medical": ("医疗保险", "Medical insurance"),
            "unemployment": ("失业保险", "Unemployment insurance"),
            "work_injury": ("工伤保险", "Work-injury insurance"),
            "maternity": ("生育保险", "Maternity insurance"),
        },
        "status": {
            "paying": ("正常缴费", "Paying"),
            "suspended": ("暂停缴费", "Suspended"),
            "in_arrears": ("欠缴", "In arrears"),
            "terminated": ("终止参保", "Terminated"),
        },
    },
    "commendation": {
        "level": {
            "national": ("国家级", "National"),
            "provincial": ("省级", "Provincial"),
            "municipal": ("市级", "Municipal"),
            "county": ("县级", "County"),
            "other": ("其他", "Other"),
        },
    },
}


def enum_label(record_type: str, field: str, value: str, lang: Lang) -> str:
    """The words for an enum ``value`` of a catalog field; the value itself if unknown."""
    label = ENUM_VALUES.get(record_type, {}).get(field, {}).get(value)
    return pick(label, lang) if label is not None else value

"""HTML and PDF renderings of credit reports (no database: reports are built by hand)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pypdf
import pytest
from sample_report import (
    CARD_OVERDUE_MONTH,
    ENTERPRISE_NAME,
    STATEMENT_TEXT,
    SUBJECT_NAME,
    empty_person_report,
    enterprise_report,
    person_report,
)

from xinyong.catalog.schemas import FieldType
from xinyong.catalog.service import get_catalog
from xinyong.reports import i18n
from xinyong.reports.render import (
    PDF_FONT_FAMILY,
    ReportFontMissingError,
    render_html,
    render_pdf,
)
from xinyong.reports.schemas import Coverage, ItemStatement, Lang

PERSON_SECTIONS_ZH = [
    "身份信息",
    "信息概要",
    "信用评分",
    "信贷交易信息明细",
    "公共信息明细",
    "本人声明及异议标注",
    "查询记录",
]
PERSON_SECTIONS_EN = [
    "Identity",
    "Summary",
    "Credit score",
    "Credit accounts",
    "Public records",
    "Statements and disputes",
    "Query records",
]
ENTERPRISE_SECTIONS_ZH = [
    "身份标识",
    "信息概要",
    "信用评分",
    "纳税信用等级",
    "行政许可",
    "行政处罚",
    "诉讼及执行信息",
    "名单信息",
    "信贷交易信息明细",
    "其他公共信息",
    "本人声明及异议标注",
    "查询记录",
]


def section_titles(document: str) -> list[str]:
    """The <h2> titles without their numbers ("一、", "3. ")."""
    titles = re.findall(r"<h2>(.*?)</h2>", document)
    return [re.sub(r"^(\d+\. |[一二三四五六七八九十]+、)", "", title) for title in titles]


def section(document: str, key: str) -> str:
    match = re.search(rf'<section id="section-{key}">(.*?)</section>', document, re.S)
    assert match is not None, key
    return match.group(1)


def article(document: str, record_id: int) -> str:
    match = re.search(
        rf'<article class="([^"]*)" id="record-{record_id}">(.*?)</article>', document, re.S
    )
    assert match is not None, record_id
    return f"{match.group(1)}\n{match.group(2)}"


@pytest.fixture(scope="module")
def person_zh() -> str:
    return render_html(person_report(Lang.ZH_CN))


@pytest.fixture(scope="module")
def person_en() -> str:
    return render_html(person_report(Lang.EN))


# --- HTML ------------------------------------------------------------------------------------


def test_a_personal_report_is_a_complete_chinese_document(person_zh: str) -> None:
    assert person_zh.startswith("<!DOCTYPE html>")
    assert '<html lang="zh-CN">' in person_zh
    assert "<title>个人信用报告" in person_zh
    assert section_titles(person_zh) == PERSON_SECTIONS_ZH
    assert SUBJECT_NAME in person_zh
    # The identifier is printed as given (already masked upstream).
    assert "110108********0016 （已脱敏）" in person_zh


def test_chinese_report_uses_catalog_labels_and_translated_values(person_zh: str) -> None:
    for label in ("账户类型", "授信额度/借款金额", "还款记录截止月份", "案号", "处罚决定书文号"):
        assert f">{label}</th>" in person_zh
    accounts = section(person_zh, "credit_accounts")
    assert "个人住房贷款" in accounts
    assert "信用卡" in accounts
    assert "mortgage" not in accounts
    assert "1,200,000.00" in accounts
    # Purposes come from the profile.
    assert "贷款审批" in person_zh
    assert "贷后管理" in person_zh


def test_english_report_has_english_labels_and_no_chinese_titles(person_en: str) -> None:
    assert '<html lang="en">' in person_en
    assert section_titles(person_en) == PERSON_SECTIONS_EN
    for label in ("Account type", "Credit limit or principal", "Case number", "Decision number"):
        assert f">{label}</th>" in person_en
    assert "Loan approval" in person_en
    assert "Paid as agreed" in person_en
    for chinese in (*PERSON_SECTIONS_ZH, "无记录", "负面信息", "异议中", "第 "):
        assert chinese not in person_en
    assert '"Page " counter(page) " of " counter(pages)' in person_en


def test_user_text_is_escaped() -> None:
    report = person_report()
    card = report.credit_accounts[1]
    hostile = "<script>alert('x')</script> & <b>bold</b>"
    statement = ItemStatement(statement_id=99, text=hostile, made_at=card.reported_at)
    accounts = [report.credit_accounts[0], card.model_copy(update={"statements": [statement]})]
    subject = report.subject.model_copy(update={"name": "<img src=x onerror=alert(1)>"})
    document = render_html(
        report.model_copy(update={"credit_accounts": accounts, "subject": subject})
    )
    assert "<script>" not in document
    assert "<img" not in document
    assert "<b>bold" not in document
    assert (
        "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in document
    )
    assert "&lt;img src=x onerror=alert(1)&gt;" in document


def test_repayment_grid_is_a_table_of_years_with_the_codes(person_zh: str) -> None:
    card = article(person_zh, 1002)
    years = re.findall(r'<th scope="row">(\d{4})</th>', card)
    assert years == ["2021", "2022", "2023", "2024", "2025", "2026"]
    cells = re.findall(r'<td class="(g-[a-z]+)" title="(\d{4}-\d{2})[^"]*">(.)</td>', card)
    assert len(cells) == 60
    assert cells[0] == ("g-unknown", "2021-11", "#")
    assert cells[-1] == ("g-normal", "2026-10", "N")
    assert ("g-late", CARD_OVERDUE_MONTH, "3") in cells
    assert [code for css, _, code in cells if css == "g-late"] == ["1", "2", "3"]
    # The legend explains the codes that occur.
    assert "逾期3个月" in card
    assert "未知" in card


def test_negative_and_disputed_items_are_marked(person_zh: str) -> None:
    judgment = article(person_zh, 2001)
    assert judgment.startswith("item negative disputed")
    assert "负面信息</span>" in judgment
    assert "异议中</span>" in judgment
    penalty = article(person_zh, 3001)
    assert penalty.startswith("item negative\n")
    assert "异议中" not in penalty
    mortgage = article(person_zh, 1001)
    assert mortgage.startswith("item\n")
    assert "负面信息" not in mortgage


def test_statements_are_shown_with_their_item_and_in_the_annotations(person_zh: str) -> None:
    assert STATEMENT_TEXT in article(person_zh, 1002)
    annotations = section(person_zh, "annotations")
    assert STATEMENT_TEXT in annotations
    # Disputes list the record with a link to it, and the status in words.
    assert '<a href="#record-2001">民事判决 #2001</a>' in annotations
    assert "核查中" in annotations


def test_header_and_footer_identify_the_report(person_zh: str) -> None:
    report = person_report()
    assert person_zh.count(report.report_id) >= 3
    assert f"sha256:{report.digest.value}" in person_zh
    assert f"/v1/reports/{report.report_id}/verification" in person_zh
    assert "2026-11-27 10:15:00 +08:00" in person_zh  # generated_at in the profile's zone
    assert ">信息截止日期</th><td>2026-11-27</td>" in person_zh
    assert "(cn 2026.11.1)" in person_zh
    assert ">收费查询</th><td>是</td>" in person_zh
    assert "string-set" in person_zh  # the running header of the PDF


def test_empty_sections_say_so() -> None:
    document = render_html(empty_person_report())
    for key in ("credit_accounts", "public_records", "query_records"):
        assert "无记录" in section(document, key)
    assert "无还款记录" in section(document, "summary")
    english = render_html(empty_person_report(Lang.EN))
    assert "No records" in section(english, "public_records")


def test_enterprise_report_follows_the_enterprise_order() -> None:
    document = render_html(enterprise_report())
    assert section_titles(document) == ENTERPRISE_SECTIONS_ZH
    assert ENTERPRISE_NAME in document
    assert "A级" in section(document, "tax_credit_grades")
    assert "有履行能力而拒不履行" in section(document, "lists")
    judgments = section(document, "judgments")
    assert "民事判决记录" in judgments
    assert "强制执行记录" in judgments
    assert "增值税" in section(document, "other_public_records")
    assert "仅含依法公开的信息" not in document


def test_public_only_report_says_what_it_leaves_out() -> None:
    document = render_html(enterprise_report(coverage=Coverage.PUBLIC_ONLY))
    assert '<p class="notice" role="note">本报告未经信息主体授权查询' in document
    assert "不在本报告范围内" in section(document, "credit_accounts")
    english = render_html(enterprise_report(Lang.EN, coverage=Coverage.PUBLIC_ONLY))
    assert "contains only information that is public by law" in english


def test_unknown_codes_and_a_malformed_grid_still_render() -> None:
    report = person_report()
    mortgage = report.credit_accounts[0]
    odd = {**mortgage.fields, "status": "frozen", "grid_end_month": "2026-13", "branch": "西城"}
    accounts = [mortgage.model_copy(update={"fields": odd})]
    document = render_html(report.model_copy(update={"credit_accounts": accounts}))
    account = article(document, 1001)
    assert "frozen" in account  # an enum value without a label is shown as the code
    assert ">branch</th><td>西城</td>" in account  # a field the catalog does not define
    assert f"<code>{'N' * 60}</code>" in account


def test_every_catalog_enum_value_has_labels() -> None:
    missing = [
        f"{record_type.code}.{spec.name}={value}"
        for record_type in get_catalog().record_types.values()
        for spec in record_type.fields
        if spec.type is FieldType.ENUM
        for value in spec.values or ()
        if value not in i18n.ENUM_VALUES.get(record_type.code, {}).get(spec.name, {})
    ]
    assert missing == []


# --- PDF -------------------------------------------------------------------------------------


def pdf_text(pdf: bytes) -> str:
    """The text of every page, runs of white space as one space (WeasyPrint places words
    one by one, so extracted text breaks lines between them)."""
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


def pdf_fonts(pdf: bytes) -> set[str]:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return {
        str(font.get_object()["/BaseFont"])
        for page in reader.pages
        for font in page["/Resources"]["/Font"].values()
    }


def assert_set_in_the_report_font(pdf: bytes) -> None:
    family = PDF_FONT_FAMILY.replace(" ", "-")
    fonts = pdf_fonts(pdf)
    assert fonts
    assert all(family in font for font in fonts), fonts


@pytest.fixture(scope="module")
def person_pdf_zh() -> bytes:
    return render_pdf(person_report(Lang.ZH_CN))


def test_pdf_of_an_empty_english_report() -> None:
    pdf = render_pdf(empty_person_report(Lang.EN))
    assert pdf.startswith(b"%PDF-")
    text = pdf_text(pdf)
    assert "3. Credit score No score in this report" in text
    assert "4. Credit accounts No records" in text
    assert re.search(r"Page 1 of \d+", text)
    # Chinese names print in the CJK font in English reports too.
    assert SUBJECT_NAME in text
    assert_set_in_the_report_font(pdf)


# A full report takes WeasyPrint more than a second to lay out.
@pytest.mark.slow
def test_pdf_prints_chinese_in_the_cjk_font(person_pdf_zh: bytes) -> None:
    assert person_pdf_zh.startswith(b"%PDF-")
    text = pdf_text(person_pdf_zh)
    assert SUBJECT_NAME in text
    assert "三、信用评分" in text
    assert "四、信贷交易信息明细" in text
    assert STATEMENT_TEXT in text
    assert re.search(r"第 ?1 ?页 ?/ ?共 ?\d+ ?页", text)
    assert_set_in_the_report_font(person_pdf_zh)
    # Subset to the document, not the 16 MB font file.
    assert len(person_pdf_zh) < 1_000_000


@pytest.mark.slow
def test_pdf_keeps_ids_and_digest_copyable(person_pdf_zh: bytes) -> None:
    report = person_report()
    text = pdf_text(person_pdf_zh)
    # In the header, in the footer and in the verification address.
    assert text.replace(" ", "").count(report.digest.value) == 3
    assert "loan-officer-17" in text  # no "ffi" ligature
    assert f"/v1/reports/{report.report_id}/verification" in text


def test_missing_font_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ReportFontMissingError) as raised:
        render_pdf(person_report(), font_file=tmp_path / "missing.otf")
    assert raised.value.code == "report_font_missing"
    assert raised.value.status == 500
    assert "XINYONG_REPORT_FONT_FILE" in raised.value.detail


def test_a_file_that_is_not_a_font_is_refused(tmp_path: Path) -> None:
    not_a_font = tmp_path / "font.otf"
    not_a_font.write_bytes(b"this is not a font")
    with pytest.raises(ReportFontMissingError, match="XINYONG_REPORT_FONT_FILE"):
        render_pdf(person_report(), font_file=not_a_font)


def test_the_score_section_shows_the_score_and_its_key_factors(
    person_zh: str, person_en: str
) -> None:
    zh = section(person_zh, "score")
    assert ">评分</th><td>612</td>" in zh
    assert "person-scorecard v3" in zh
    assert "R_MONTHS_OVERDUE_24M" in zh
    assert "近24个月逾期月数" in zh
    assert "近6个月硬查询次数过多" in zh  # inquiries as the fifth factor
    en = section(person_en, "score")
    assert "Months delinquent in the last 24 months" in en
    assert ">Points lost</th>" in en


def test_a_report_without_a_score_says_why_there_is_none() -> None:
    report = person_report().model_copy(update={"score": None})
    html = render_html(report)
    assert "本报告不含评分" in section(html, "score")


def test_an_unscorable_subject_gets_the_reason_not_a_number() -> None:
    report = person_report()
    assert report.score is not None
    unscorable = report.score.model_copy(
        update={
            "outcome": "unscorable",
            "score": None,
            "reasons": [],
            "unscorable_code": "U_INSUFFICIENT_HISTORY",
        }
    )
    html = render_html(
        report.model_copy(update={"score": unscorable}),
    )
    assert "无法评分：信用历史不足" in section(html, "score")

"""Words of the web pages, in Chinese (zh-CN) and English.

Each entry is a pair ``(zh-CN, en)``, as in :mod:`xinyong.reports.i18n`, so that a missing
translation cannot be written down by accident. Codes of the catalog (penalty types,
severities, licence categories) and subject kinds take their words from the report tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Final

from xinyong.reports.i18n import Label, pick
from xinyong.reports.schemas import Lang

__all__ = ["TEXT", "format_date", "parse_lang", "text"]

TEXT: Final[Mapping[str, Label]] = {
    # the site
    "site.name": ("信用信息公示", "Public credit information"),
    "site.skip": ("跳到正文", "Skip to the content"),
    "site.nav": ("公示查询", "Public lookups"),
    "site.language": ("语言", "Language"),
    "site.footer": (
        "本站仅公示法律规定应当公开的信用信息，并仅在其公示期内公示；个人信息不予公示。",
        "Only credit information the law makes public is shown here, and only within its "
        "publicity period; personal data is never shown.",
    ),
    "nav.search": ("企业信用信息查询", "Search organisations"),
    "nav.debtors": ("失信被执行人查询", "Dishonest judgment debtors"),
    # the search
    "search.intro": (
        "按名称或统一社会信用代码查询企业和其他组织的行政许可、行政处罚和名单信息。",
        "Find an enterprise or other organisation by name or by Unified Social Credit Code, "
        "and see its administrative licences, penalties and list entries.",
    ),
    "search.label": ("企业名称或统一社会信用代码", "Name or Unified Social Credit Code"),
    "search.hint": (
        "名称至少输入{min}个字；统一社会信用代码为18位，须完整输入。",
        "At least {min} characters of the name, or the whole 18-character code.",
    ),
    "search.submit": ("查询", "Search"),
    "search.results": ("“{query}”的查询结果", "Results for “{query}”"),
    "search.range": ("第{first}至{last}条", "Results {first} to {last}"),
    "search.none": ("未找到匹配的企业或其他组织。", "No organisation matches this search."),
    "search.more": (
        "结果较多，请输入更完整的名称以缩小范围。",
        "There are many results: enter more of the name to narrow the search.",
    ),
    "search.pages": ("翻页", "Pages"),
    "search.previous": ("上一页", "Previous page"),
    "search.next": ("下一页", "Next page"),
    "search.individual_business": (
        "个体工商户（名称不予公示）",
        "Individual business (name not shown)",
    ),
    # an organisation
    "field.uscc": ("统一社会信用代码", "Unified Social Credit Code"),
    "field.kind": ("主体类型", "Kind"),
    "field.name_en": ("英文名称", "Name in English"),
    "field.as_of": ("公示日期", "Shown as of"),
    "notice.title": ("关于本页信息", "About this information"),
    "notice.publicity": (
        "本页公示该组织当日处于公示期内的行政许可、行政处罚和名单信息。行政处罚自处罚决定"
        "之日起按其严重程度公示至下表所列截止日期；行政许可在有效期内公示；名单信息在列入"
        "期间公示。期满、被撤销或已完成信用修复的信息不再公示。",
        "This page shows the organisation's administrative licences, administrative "
        "penalties and list entries that are within their publicity periods today. A "
        "penalty is shown from its decision until the day given in the table, which depends "
        "on its severity; a licence while it is valid; a list entry while it is in force. "
        "Information past its period, withdrawn or repaired is not shown.",
    ),
    "notice.privacy": (
        "个人信息不予公示：本页不显示任何自然人的姓名或身份证件号码，个体工商户的名称亦不公示。",
        "Personal data is never shown: no person's name or identity number appears here, "
        "and no individual business's name.",
    ),
    "section.licences": ("行政许可", "Administrative licences"),
    "section.penalties": ("行政处罚", "Administrative penalties"),
    "section.lists": ("名单信息", "List entries"),
    "empty.licences": (
        "无处于公示期内的行政许可信息。",
        "No administrative licence is in its publicity period.",
    ),
    "empty.penalties": (
        "无处于公示期内的行政处罚信息。",
        "No administrative penalty is in its publicity period.",
    ),
    "empty.lists": ("未列入任何名单。", "Not on any list."),
    "col.decision_number": ("决定文书号", "Decision number"),
    "col.licence_name": ("许可名称", "Licence"),
    "col.licence_category": ("许可类别", "Category"),
    "col.authority": ("决定机关", "Authority"),
    "col.decision_date": ("决定日期", "Decided on"),
    "col.valid_until": ("有效期至", "Valid until"),
    "col.violation_type": ("违法行为类型", "Violation"),
    "col.penalty_type": ("处罚类别", "Penalty"),
    "col.fine_amount": ("罚款金额", "Fine"),
    "col.severity": ("严重程度", "Severity"),
    "col.publicity_ends": ("公示截止日期", "Published until"),
    "col.list": ("名单", "List"),
    "col.ground": ("列入事由", "Ground"),
    "col.list_authority": ("列入机关", "Listed by"),
    "col.case_number": ("案号或决定文书号", "Case or decision number"),
    "col.start_date": ("列入日期", "Listed on"),
    "col.planned_end": ("预计移出日期", "Planned end"),
    "col.name": ("名称或姓名", "Name"),
    "col.identifier": ("证件号码", "Identifier"),
    "col.kind": ("主体类型", "Kind"),
    "value.none": ("—", "—"),
    "value.no_end": ("长期", "No end date"),
    "value.until_performed": ("履行义务后移出", "Until the obligation is performed"),
    "value.fine": ("{amount}元", "CNY {amount}"),
    "value.negative": ("失信类", "Negative"),
    "value.positive": ("守信类", "Positive"),
    # the court list
    "debtors.intro": (
        "输入完整的居民身份证号码或统一社会信用代码，查询其在失信被执行人名单上的有效记录。"
        "自然人的姓名和证件号码仅部分显示。",
        "Enter an exact Resident ID or Unified Social Credit Code to see its active entries "
        "on the list of dishonest judgment debtors. A person's name and identity number are "
        "shown only in part.",
    ),
    "debtors.label": (
        "居民身份证号码或统一社会信用代码",
        "Resident ID or Unified Social Credit Code",
    ),
    "debtors.hint": (
        "所输入的号码不会出现在网页地址中，也不会在结果中完整显示。",
        "The number you enter is not put in the page address, nor shown in full in the result.",
    ),
    "debtors.submit": ("查询", "Look up"),
    "debtors.privacy": (
        "失信被执行人名单依法公开；自然人仅显示姓名的第一个字和证件号码的前后几位，个体工商户的名称"
        "亦部分显示，其他个人信息不予公示。",
        "The list of dishonest judgment debtors is public by law. A person's name is shown by "
        "its first character and the identity number by its first and last digits, an "
        "individual business's name in part; no other personal data is shown.",
    ),
    "debtors.as_of": ("公示日期：", "Shown as of"),
    "debtors.results": ("查询结果", "Result"),
    "debtors.none": (
        "该号码在失信被执行人名单上没有有效记录。",
        "There is no active entry on the list of dishonest judgment debtors for this number.",
    ),
    # errors
    "error.title.400": ("输入有误", "Please check what you entered"),
    "error.title.404": ("未找到", "Not found"),
    "error.title.500": ("服务出错", "Server error"),
    "error.title": ("无法显示", "Cannot be shown"),
    "error.bad_uscc": (
        "这不是有效的统一社会信用代码，请核对后重新输入。",
        "This is not a valid Unified Social Credit Code: check it and try again.",
    ),
    "error.bad_identifier": (
        "这既不是有效的居民身份证号码，也不是有效的统一社会信用代码，请核对后重新输入。",
        "This is neither a valid Resident ID nor a valid Unified Social Credit Code: check it "
        "and try again.",
    ),
    "error.bad_query": (
        "查询内容应为{min}至{max}个字。",
        "A search needs {min} to {max} characters.",
    ),
    "error.bad_page": ("页码无效，请缩小查询范围。", "No such page of results: refine the search."),
    "error.enterprise_not_found": (
        "未找到使用该统一社会信用代码的企业或其他组织。",
        "No organisation with this Unified Social Credit Code is known here.",
    ),
    "error.not_found": ("页面不存在。", "There is no such page."),
    "error.internal": (
        "服务暂时出现问题，请稍后再试。",
        "Something went wrong on our side: please try again later.",
    ),
    "error.other": ("请求无法处理。", "The request cannot be handled."),
    "error.back": ("返回查询", "Back to the search"),
}

_MONTHS_EN: Final = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def text(key: str, lang: Lang, **values: object) -> str:
    """The page text ``key`` in ``lang``, with ``{name}`` placeholders filled in.

    Values are plain text; the templates escape the result.
    """
    template = pick(TEXT[key], lang)
    return template.format(**values) if values else template


def parse_lang(value: str | None) -> Lang:
    """The page language from ``?lang=``: English for ``en``, else Chinese (the default)."""
    return Lang.EN if (value or "").strip().lower() in ("en", "en-gb", "en-us") else Lang.ZH_CN


def format_date(day: date, lang: Lang) -> str:
    """``2026年11月27日`` or ``27 November 2026``."""
    if lang is Lang.ZH_CN:
        return f"{day.year}年{day.month}月{day.day}日"
    return f"{day.day} {_MONTHS_EN[day.month - 1]} {day.year}"

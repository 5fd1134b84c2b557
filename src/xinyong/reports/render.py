"""HTML and PDF renderings of a credit report (schema 1.2), in Chinese or English.

Both come from one Jinja2 template, ``templates/report.html.j2``. The HTML is a complete,
printable document; the PDF is the same document laid out by WeasyPrint on A4, with the
report number on top of every page and page numbers at the bottom.

The template only lays out. What a reader sees is decided here: :class:`_ViewBuilder` turns
the report's codes into labelled sections in the order of the PBoC second-generation reports
(personal and enterprise reports differ), with field labels from the catalog, purpose names
from the jurisdiction profile and everything else from :mod:`xinyong.reports.i18n`.
"""

from __future__ import annotations

import base64
import functools
import html
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, ClassVar, Final
from urllib.parse import quote
from zoneinfo import ZoneInfo

import jinja2
from markupsafe import Markup

from xinyong.catalog.schemas import GRID_LENGTH, FieldSpec, FieldType, RecordType
from xinyong.catalog.service import UnknownRecordTypeError, get_catalog
from xinyong.errors import ConfigurationError, XinyongError
from xinyong.fonts import DEFAULT_FONT_FILE_NAME, default_cjk_font
from xinyong.reports import i18n
from xinyong.reports.i18n import text
from xinyong.reports.profiles import JurisdictionProfile, get_profile
from xinyong.reports.schemas import (
    PUBLIC_RECORD_SECTIONS,
    Coverage,
    CreditReport,
    DisputeAnnotation,
    Lang,
    MoneyTotal,
    ReportItem,
    RequesterKind,
)

__all__ = [
    "DEFAULT_FONT_FILE_NAME",
    "PDF_FONT_FAMILY",
    "ReportFontMissingError",
    "default_font_file",
    "render_html",
    "render_pdf",
    "verification_path",
]

# The family name the PDF declares with @font-face; the PDF's font names contain it.
PDF_FONT_FAMILY: Final = "Xinyong Report CJK"
# Noto Sans CJK SC (SIL Open Font Licence), shipped by the mplfonts package.
# A character a font must have to print Chinese text ("信").
_CJK_PROBE: Final = 0x4FE1


class ReportFontMissingError(ConfigurationError):
    """No usable CJK font for PDF reports."""

    code = "report_font_missing"
    title = "No font for PDF reports"


# --- public API ---------------------------------------------------------------------------------


def render_html(report: CreditReport) -> str:
    """The report as a complete, printable HTML document in the report's language.

    User-supplied text (names, statements, furnishers' values) is escaped by the template.
    """
    view = _ViewBuilder(report).build()
    return _environment().get_template("report.html.j2").render(view=view)


def render_pdf(report: CreditReport, *, font_file: Path | None = None) -> bytes:
    """The report as an A4 PDF: the HTML of :func:`render_html`, laid out by WeasyPrint.

    Text is set in ``font_file`` (the operator's ``XINYONG_REPORT_FONT_FILE``), by default in
    Noto Sans CJK SC from the ``mplfonts`` package. Raises :class:`ReportFontMissingError` if
    there is no such font or it cannot print Chinese.
    """
    path = _font_path(font_file)
    document = render_html(report)
    font, font_format = _font_subset(path, path.stat().st_mtime_ns, _characters(document))
    # WeasyPrint is imported here, not at the top: it takes half a second to import and
    # most processes (ingestion, the CLI) never print a PDF.
    from weasyprint import CSS, HTML  # type: ignore[import-untyped]
    from weasyprint.text.fonts import FontConfiguration  # type: ignore[import-untyped]
    from weasyprint.urls import URLFetcher  # type: ignore[import-untyped]

    # The document needs nothing from outside except its font, passed as a data: URL; refusing
    # every other scheme keeps a rendering from reading local files or the network.
    fetcher = URLFetcher(allowed_protocols={"data"})
    fonts = FontConfiguration()
    font_face = CSS(
        string=_font_face_css(font, font_format), font_config=fonts, url_fetcher=fetcher
    )
    # full_fonts: the font is already cut down to this document (see _font_subset); letting
    # WeasyPrint subset it again would cost about a second more (fontTools recomputing CFF
    # glyph bounds) and save nothing.
    pdf: bytes = HTML(string=document, url_fetcher=fetcher).write_pdf(
        stylesheets=[font_face], font_config=fonts, full_fonts=True
    )
    return pdf


def default_font_file() -> Path | None:
    """Noto Sans CJK SC from the installed ``mplfonts`` package, or ``None``."""
    return default_cjk_font()


def verification_path(report_id: str) -> str:
    """The API path where a printed report's id and digest can be checked (``?digest=``)."""
    return f"/v1/reports/{quote(report_id, safe='')}/verification"


# --- fonts --------------------------------------------------------------------------------------

_FONT_HINT: Final = (
    "set XINYONG_REPORT_FONT_FILE to an OpenType or TrueType font with Chinese characters "
    "(e.g. NotoSansCJKsc-Regular.otf)"
)
# Printed by the stylesheet or WeasyPrint whatever the text: digits of page numbers, ASCII,
# and the punctuation of lists and dashes.
_ALWAYS_PRINTED: Final = frozenset(
    [chr(code) for code in range(0x20, 0x7F)] + list("—–…·•「」（）：；，。、／")
)


def _font_path(font_file: Path | None) -> Path:
    if font_file is not None:
        if not font_file.is_file():
            raise ReportFontMissingError(
                f"the report font file {font_file} does not exist; {_FONT_HINT}",
                font_file=str(font_file),
            )
        return font_file
    found = default_font_file()
    if found is None:
        raise ReportFontMissingError(
            f"no CJK font for PDF reports: {DEFAULT_FONT_FILE_NAME} of the mplfonts package "
            f"is not installed; install the package or {_FONT_HINT}"
        )
    return found


def _characters(document: str) -> str:
    """Every character the PDF may print, sorted (a cache key)."""
    return "".join(sorted(set(html.unescape(document)) | _ALWAYS_PRINTED))


@functools.lru_cache(maxsize=16)
def _font_subset(path: Path, mtime_ns: int, characters: str) -> tuple[bytes, str]:
    """The font at ``path`` cut down to ``characters``: its bytes and CSS format name.

    Why not let WeasyPrint subset the font file: without libharfbuzz-subset it subsets with
    fontTools keeping every glyph slot, about 5 s for the 65,000 glyphs of Noto Sans CJK SC;
    and ``write_pdf(full_fonts=True)`` on the file embeds all of it (a 28 MB PDF, 2.6 s;
    measured with WeasyPrint 70). Cutting the font down to the characters of the document
    takes about 0.4 s here; :func:`render_pdf` then embeds the result as it is. ``mtime_ns``
    is part of the cache key so that a replaced font file is read again.
    """
    from fontTools import subset  # type: ignore[import-untyped]
    from fontTools.ttLib import TTFont  # type: ignore[import-untyped]

    try:
        with TTFont(path, lazy=True, fontNumber=_face_index(path)) as font:
            cmap = font.getBestCmap() or {}
            if _CJK_PROBE not in cmap:
                raise ReportFontMissingError(
                    f"the report font {path} has no Chinese characters; {_FONT_HINT}",
                    font_file=str(path),
                )
            options = subset.Options()
            # Hints are for screens at small sizes; PDF viewers and printers do not use them.
            options.hinting = False
            # A box for characters the font lacks, rather than nothing at all.
            options.notdef_outline = True
            # Horizontal text in a Simplified Chinese font needs only Latin kerning. Keeping
            # the default features (ligatures, vertical and locale forms) makes the cut slower
            # by a third; ligatures are off anyway, so that ids and digests copy out of the
            # PDF letter by letter.
            options.layout_features = ["kern"]
            subsetter = subset.Subsetter(options)
            subsetter.populate(text=characters)
            subsetter.subset(font)
            out = io.BytesIO()
            font.save(out)
            font_format = "opentype" if font.sfntVersion == "OTTO" else "truetype"
    except XinyongError:
        raise
    except Exception as exc:
        # fontTools raises many kinds of errors on a file that is not a font; all mean the same.
        raise ReportFontMissingError(
            f"the report font {path} cannot be read as a font ({exc}); {_FONT_HINT}",
            font_file=str(path),
        ) from exc
    return out.getvalue(), font_format


def _face_index(path: Path) -> int:
    """Which face of a font collection (.ttc) to use: the Simplified Chinese one if any.

    Collections such as NotoSansCJK-Regular.ttc start with the Japanese face, whose glyph
    forms differ from the Chinese standard ones for many characters.
    """
    with path.open("rb") as file:
        if file.read(4) != b"ttcf":
            return 0
    from fontTools.ttLib import TTCollection

    collection = TTCollection(path, lazy=True)
    try:
        for index, face in enumerate(collection.fonts):
            family = str(face["name"].getDebugName(1) or "")
            if family.endswith(" SC") or " SC " in family:
                return index
    finally:
        collection.close()
    return 0


def _font_face_css(font: bytes, font_format: str) -> str:
    mime = "font/otf" if font_format == "opentype" else "font/ttf"
    data = base64.b64encode(font).decode("ascii")
    return (
        f'@font-face {{ font-family: "{PDF_FONT_FAMILY}"; '
        f'src: url("data:{mime};base64,{data}") format("{font_format}"); }}'
    )


# --- the template -------------------------------------------------------------------------------


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("xinyong.reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _css_string(value: str) -> str:
    """``value`` as a CSS string literal that is also safe inside a <style> element."""
    escaped = "".join(
        f"\\{ord(char):X} " if char in '"\\<>&\n\r' or ord(char) < 0x20 else char for char in value
    )
    return f'"{escaped}"'


def _page_counter_css(lang: Lang) -> Markup:
    """CSS ``content`` for "Page N of M" in ``lang``, from the ``page.label`` text."""
    parts: list[str] = []
    for piece in re.split(r"(\{pages?\})", text("page.label", lang)):
        if piece in _COUNTERS:
            parts.append(_COUNTERS[piece])
        elif piece:
            parts.append(_css_string(piece))
    return Markup(" ".join(parts))  # noqa: S704 - built from escaped CSS strings only


_COUNTERS: Final[Mapping[str, str]] = {"{page}": "counter(page)", "{pages}": "counter(pages)"}


# --- the view: what the template shows ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Pair:
    label: str
    value: str
    # A long text (a statement, an obligation) takes a whole row.
    wide: bool = False


@dataclass(frozen=True, slots=True)
class _Cell:
    text: str
    href: str | None = None


@dataclass(frozen=True, slots=True)
class _PairsBlock:
    kind: ClassVar[str] = "pairs"
    title: str | None
    pairs: tuple[_Pair, ...]


@dataclass(frozen=True, slots=True)
class _TableBlock:
    kind: ClassVar[str] = "table"
    title: str | None
    header: tuple[str, ...]
    rows: tuple[tuple[_Cell, ...], ...]
    empty: str
    # Column widths in percent; equal columns when empty.
    widths: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class _GridCell:
    code: str
    css: str
    title: str


@dataclass(frozen=True, slots=True)
class _GridRow:
    year: str
    cells: tuple[_GridCell | None, ...]


@dataclass(frozen=True, slots=True)
class _Grid:
    title: str
    year_label: str
    rows: tuple[_GridRow, ...]
    legend: tuple[tuple[str, str, str], ...]  # code, css class, meaning
    # The codes as given, when the end month is missing or malformed.
    raw: str | None


@dataclass(frozen=True, slots=True)
class _Statement:
    label: str
    text: str
    made_at: str


@dataclass(frozen=True, slots=True)
class _Item:
    anchor: str
    heading: str
    negative: bool
    disputed: bool
    repaired: bool
    field_rows: tuple[tuple[_Pair, ...], ...]
    meta: tuple[_Pair, ...]
    grid: _Grid | None
    statements: tuple[_Statement, ...]


@dataclass(frozen=True, slots=True)
class _ItemsBlock:
    kind: ClassVar[str] = "items"
    title: str | None
    items: tuple[_Item, ...]


_Block = _PairsBlock | _TableBlock | _ItemsBlock


@dataclass(frozen=True, slots=True)
class _Section:
    key: str
    title: str
    blocks: tuple[_Block, ...]
    # Shown instead of the blocks when there are none.
    empty: str


@dataclass(frozen=True, slots=True)
class _ReportView:
    lang: str
    title: str
    report_no: str
    meta: tuple[_Pair, ...]
    notice: str | None
    sections: tuple[_Section, ...]
    verification: tuple[_Pair, ...]
    verify_line: str
    digest_note: str
    negative_label: str
    disputed_label: str
    repaired_label: str
    page_counter_css: Markup


_CHINESE_NUMERALS: Final = "一二三四五六七八九十"

# Fields that name an item in its heading, after the record type's name.
_HEADING_FIELDS: Final[Mapping[str, tuple[str, ...]]] = {
    "credit_account": ("account_type", "loan_kind"),
    "tax_credit_grade": ("tax_year",),
    "tax_arrears": ("tax_type",),
    "court_judgment": ("case_number",),
    "enforcement_case": ("case_number",),
    "dishonest_debtor_listing": ("case_number",),
    "administrative_licence": ("licence_name",),
    "administrative_penalty": ("decision_number",),
    "utility_arrears": ("utility",),
    "social_insurance_status": ("insurance_type",),
    "commendation": ("title",),
}
# The repayment grid and the month it ends at (catalog, RULES.md 28).
_GRID_FIELD: Final = "repayment_grid"
_GRID_END_FIELD: Final = "grid_end_month"
_RECORD_TYPE_OF_GROUP: Final[Mapping[str, str]] = {
    "credit_accounts": "credit_account",
    **{group: record_type for record_type, group in PUBLIC_RECORD_SECTIONS.items()},
}
# Groups of public records in display order.
_GROUPS: Final[tuple[str, ...]] = tuple(dict.fromkeys(PUBLIC_RECORD_SECTIONS.values()))
# Enterprise reports show these groups in sections of their own (PBoC enterprise report);
# the rest go to "other public records".
_ENTERPRISE_OWN_SECTIONS: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("tax_credit_grades", ("tax_credit_grades",)),
    ("licences", ("administrative_licences",)),
    ("penalties", ("administrative_penalties",)),
    ("judgments", ("court_judgments", "enforcement_cases")),
    ("lists", ("dishonest_debtor_listings",)),
)


class _ViewBuilder:
    """Builds the :class:`_ReportView` of one report."""

    def __init__(self, report: CreditReport) -> None:
        self.report = report
        self.lang = report.lang
        self.catalog = get_catalog()
        self.profile: JurisdictionProfile | None
        try:
            self.profile = get_profile(report.profile.code)
        except XinyongError:
            # A report made under a profile this installation does not have still renders,
            # with codes where the profile would give names.
            self.profile = None
        self.zone: ZoneInfo | None = self.profile.zone if self.profile is not None else None
        self.rendered_records = {item.record_id for item in self._all_items()}

    # -- helpers

    def t(self, key: str, **values: object) -> str:
        return text(key, self.lang, **values)

    def _all_items(self) -> Iterable[ReportItem]:
        yield from self.report.credit_accounts
        for group in _GROUPS:
            yield from self._group_items(group)

    def _group_items(self, group: str) -> list[ReportItem]:
        items: list[ReportItem] = getattr(self.report.public_records, group)
        return items

    def record_type(self, code: str) -> RecordType | None:
        try:
            return self.catalog.record_type(code)
        except UnknownRecordTypeError:
            return None

    def record_type_name(self, code: str) -> str:
        record_type = self.record_type(code)
        if record_type is None:
            return code
        return record_type.name_zh if self.lang is Lang.ZH_CN else record_type.name_en

    def purpose_name(self, code: str) -> str:
        purpose = self.profile.purpose(code) if self.profile is not None else None
        return purpose.name(self.lang) if purpose is not None else code

    def yes_no(self, value: bool) -> str:
        return self.t("value.yes" if value else "value.no")

    def when(self, moment: datetime) -> str:
        """A time in the profile's timezone, with its UTC offset."""
        if moment.tzinfo is None:
            return moment.strftime("%Y-%m-%d %H:%M:%S")
        local = moment.astimezone(self.zone) if self.zone is not None else moment
        offset = local.strftime("%z")
        return f"{local:%Y-%m-%d %H:%M:%S} {offset[:3]}:{offset[3:]}"

    def money(self, totals: Sequence[MoneyTotal]) -> str:
        if not totals:
            return self.t("value.none")
        return "; ".join(f"{total.currency} {_amount(total.amount)}" for total in totals)

    def grid_status(self, code: str | None) -> str:
        if code is None:
            return self.t("summary.no_grid")
        label = i18n.GRID_CODE_LABELS.get(code)
        if label is None:
            return code
        meaning = i18n.pick(label, self.lang)
        return f"{code}（{meaning}）" if self.lang is Lang.ZH_CN else f"{code} ({meaning})"

    def section_title(self, number: int, key: str) -> str:
        title = self.t(f"section.{key}")
        if self.lang is Lang.ZH_CN:
            return f"{_chinese_numeral(number)}、{title}"
        return f"{number}. {title}"

    def out_of_coverage(self, groups: Iterable[str]) -> bool:
        """Whether a public-only report leaves out every record type of ``groups``."""
        if self.report.coverage is not Coverage.PUBLIC_ONLY or self.profile is None:
            return False
        public = set(self.profile.reports.public_enterprise_record_types)
        return all(_RECORD_TYPE_OF_GROUP.get(group) not in public for group in groups)

    # -- the whole report

    def build(self) -> _ReportView:
        report = self.report
        person = report.subject.kind == "person"
        title = self.t(f"title.{report.subject.kind}")
        sections = self._person_sections() if person else self._enterprise_sections()
        numbered = tuple(
            _Section(key, self.section_title(number, key), blocks, empty)
            for number, (key, blocks, empty) in enumerate(sections, start=1)
        )
        notice = (
            self.t("coverage.public_only_notice")
            if report.coverage is Coverage.PUBLIC_ONLY
            else None
        )
        verify_url = f"{verification_path(report.report_id)}?digest={report.digest.value}"
        return _ReportView(
            lang=str(self.lang),
            title=title,
            report_no=f"{self.t('meta.report_id')}: {report.report_id}",
            meta=self._meta(),
            notice=notice,
            sections=numbered,
            verification=(
                _Pair(self.t("meta.report_id"), report.report_id),
                _Pair(self.t("meta.generated_at"), self.when(report.generated_at)),
                _Pair(self.t("meta.digest"), f"{report.digest.algorithm}:{report.digest.value}"),
                *(
                    (
                        _Pair(
                            self.t("meta.ledger"),
                            f"{report.ledger.origin} · {report.ledger.tree_size} · "
                            f"{report.ledger.root_hash}",
                        ),
                    )
                    if report.ledger is not None
                    else ()
                ),
            ),
            verify_line=self.t("meta.verify", url=verify_url),
            digest_note=self.t("meta.digest_note"),
            negative_label=self.t("item.negative"),
            disputed_label=self.t("item.disputed"),
            repaired_label=self.t("item.repaired"),
            page_counter_css=_page_counter_css(self.lang),
        )

    def _meta(self) -> tuple[_Pair, ...]:
        report = self.report
        requester = report.requester
        profile = report.profile
        profile_name = (
            (
                self.profile.profile.name_zh
                if self.lang is Lang.ZH_CN
                else self.profile.profile.name_en
            )
            if self.profile is not None
            else profile.code
        )
        who = i18n.code_label("requester_kind", requester.kind, self.lang)
        if requester.kind is RequesterKind.INSTITUTION:
            names = [n for n in (requester.institution_name, requester.institution_code) if n]
            if names:
                who = names[0] if len(names) == 1 else f"{names[0]} ({names[1]})"
        pairs = [
            _Pair(self.t("meta.report_id"), report.report_id),
            _Pair(self.t("meta.generated_at"), self.when(report.generated_at)),
            _Pair(self.t("meta.as_of"), report.as_of.isoformat()),
            _Pair(self.t("meta.profile"), f"{profile_name} ({profile.code} {profile.version})"),
            _Pair(self.t("meta.coverage"), self.t(f"coverage.{report.coverage}")),
            _Pair(self.t("meta.chargeable"), self.yes_no(report.chargeable)),
            _Pair(self.t("meta.requester"), who),
            _Pair(self.t("meta.purpose"), self.purpose_name(requester.purpose)),
        ]
        if requester.operator_user:
            pairs.append(_Pair(self.t("meta.operator_user"), requester.operator_user))
        if requester.reference:
            pairs.append(_Pair(self.t("meta.reference"), requester.reference))
        if requester.consent_id is not None:
            pairs.append(_Pair(self.t("meta.consent_id"), str(requester.consent_id)))
        pairs.append(_Pair(self.t("meta.query_record_id"), str(requester.query_record_id)))
        pairs.append(
            _Pair(self.t("meta.digest"), f"{report.digest.algorithm}:{report.digest.value}")
        )
        return tuple(pairs)

    # -- section lists

    def _person_sections(self) -> list[tuple[str, tuple[_Block, ...], str]]:
        return [
            ("identity", (self._identity(),), self.t("value.no_records")),
            ("summary", self._summary(), self.t("value.no_records")),
            ("score", self._score(), self.t("score.none")),
            self._accounts_section(),
            self._groups_section("public_records", _GROUPS),
            ("annotations", self._annotations(), self.t("value.no_records")),
            ("query_records", (self._queries(),), self.t("value.no_records")),
        ]

    def _enterprise_sections(self) -> list[tuple[str, tuple[_Block, ...], str]]:
        own = [group for _, groups in _ENTERPRISE_OWN_SECTIONS for group in groups]
        others = tuple(group for group in _GROUPS if group not in own)
        sections: list[tuple[str, tuple[_Block, ...], str]] = [
            ("registration", (self._identity(),), self.t("value.no_records")),
            ("summary", self._summary(), self.t("value.no_records")),
            ("score", self._score(), self.t("score.none")),
        ]
        sections.extend(
            self._groups_section(key, groups) for key, groups in _ENTERPRISE_OWN_SECTIONS
        )
        sections.append(self._accounts_section())
        sections.append(self._groups_section("other_public_records", others))
        sections.append(("annotations", self._annotations(), self.t("value.no_records")))
        sections.append(("query_records", (self._queries(),), self.t("value.no_records")))
        return sections

    def _accounts_section(self) -> tuple[str, tuple[_Block, ...], str]:
        accounts = self.report.credit_accounts
        blocks: tuple[_Block, ...] = (_ItemsBlock(None, self._items(accounts)),) if accounts else ()
        return "credit_accounts", blocks, self._empty_text(["credit_accounts"])

    def _groups_section(
        self, key: str, groups: Sequence[str]
    ) -> tuple[str, tuple[_Block, ...], str]:
        # A section of one group needs no group heading; a section of several titles each.
        titled = len(groups) > 1
        blocks: list[_Block] = []
        for group in groups:
            items = self._group_items(group)
            if items:
                title = self.t(f"group.{group}") if titled else None
                blocks.append(_ItemsBlock(title, self._items(items)))
        return key, tuple(blocks), self._empty_text(groups)

    def _empty_text(self, groups: Iterable[str]) -> str:
        return self.t("value.not_covered" if self.out_of_coverage(groups) else "value.no_records")

    # -- identity and summary

    def _identity(self) -> _PairsBlock:
        subject = self.report.subject
        person = subject.kind == "person"
        identifier = subject.identifier
        if subject.identifier_masked:
            identifier = f"{identifier} {self.t('subject.masked')}"
        pairs = [
            _Pair(
                self.t("subject.person_name" if person else "subject.name"),
                subject.name or self.t("value.none"),
            )
        ]
        if subject.name_en:
            pairs.append(_Pair(self.t("subject.name_en"), subject.name_en))
        pairs += [
            _Pair(self.t("subject.kind"), i18n.code_label("subject_kind", subject.kind, self.lang)),
            _Pair(
                self.t("subject.identifier_type"),
                i18n.code_label("identifier_type", subject.identifier_type, self.lang),
            ),
            _Pair(self.t("subject.identifier"), identifier),
            _Pair(self.t("subject.subject_id"), str(subject.subject_id)),
        ]
        return _PairsBlock(None, tuple(pairs))

    def _score(self) -> tuple[_Block, ...]:
        from xinyong.scoring.reasons import reason_text

        score = self.report.score
        if score is None:
            return ()
        if score.outcome == "scored" and score.score is not None:
            value = f"{score.score:.0f}"
        else:
            value = self.t(f"score.{score.unscorable_code or 'U_NO_DATA'}")
        pairs = (
            _Pair(self.t("score.value"), value),
            _Pair(self.t("score.model"), f"{score.model_name} v{score.model_version}"),
        )
        rows = tuple(
            (
                _Cell(reason.code),
                _Cell(i18n.pick(_as_label(reason_text(reason.characteristic)), self.lang)),
                _Cell(f"{reason.points_lost:g}"),
            )
            for reason in score.reasons
        )
        return (
            _PairsBlock(None, pairs),
            _TableBlock(
                self.t("score.reasons"),
                (self.t("score.code"), self.t("score.reason"), self.t("score.points_lost")),
                rows,
                self.t("value.none"),
                (30, 52, 18),
            ),
        )

    def _summary(self) -> tuple[_Block, ...]:
        summary = self.report.summary
        accounts = summary.accounts
        count_keys = ("total", "open", "closed", "loans", "credit_cards", "currently_overdue")
        account_pairs = [
            _Pair(self.t(f"summary.{key}"), str(getattr(accounts, key))) for key in count_keys
        ]
        account_pairs += [
            _Pair(self.t(f"summary.{key}"), self.money(getattr(accounts, key)))
            for key in ("credit_limit", "balance", "overdue_amount")
        ]
        account_pairs += [
            _Pair(self.t(f"summary.{key}"), self.grid_status(getattr(accounts, key)))
            for key in ("worst_current_status", "worst_status_24_months", "worst_status_60_months")
        ]
        public_rows = tuple(
            (
                _Cell(self.record_type_name(count.record_type)),
                _Cell(str(count.total)),
                _Cell(str(count.negative)),
            )
            for count in summary.public_records
        )
        queries = summary.queries
        query_rows = tuple(
            (_Cell(self.purpose_name(purpose)), _Cell(str(count)))
            for purpose, count in queries.institution_queries_12_months.items()
        )
        return (
            _PairsBlock(self.t("group.accounts_summary"), tuple(account_pairs)),
            _TableBlock(
                self.t("group.public_summary"),
                (
                    self.t("summary.record_type"),
                    self.t("summary.count"),
                    self.t("summary.negative"),
                ),
                public_rows,
                self.t("value.no_records"),
                (60, 20, 20),
            ),
            _PairsBlock(
                None, (_Pair(self.t("summary.negative_items"), str(summary.negative_items)),)
            ),
            _TableBlock(
                self.t("group.query_summary"),
                (self.t("summary.purpose"), self.t("summary.institution_queries")),
                query_rows,
                self.t("value.no_records"),
                (70, 30),
            ),
            _PairsBlock(
                None,
                (_Pair(self.t("summary.subject_queries"), str(queries.subject_queries_12_months)),),
            ),
        )

    # -- items

    def _items(self, items: Sequence[ReportItem]) -> tuple[_Item, ...]:
        return tuple(self._item(number, item) for number, item in enumerate(items, start=1))

    def _item(self, number: int, item: ReportItem) -> _Item:
        record_type = self.record_type(item.record_type)
        if item.record_type == "credit_account":
            type_name = self.t("item.account")
        else:
            type_name = self.record_type_name(item.record_type)
        naming = [
            self.field_value(item.record_type, record_type, name, item.fields[name])
            for name in _HEADING_FIELDS.get(item.record_type, ())
            if item.fields.get(name) is not None
        ]
        furnisher = item.furnisher
        furnisher_name = (
            furnisher.name_en if self.lang is Lang.EN and furnisher.name_en else furnisher.name
        )
        valid_to = (
            item.valid_to.isoformat() if item.valid_to is not None else self.t("value.open_ended")
        )
        meta = (
            _Pair(self.t("item.furnisher"), f"{furnisher_name} ({furnisher.code})"),
            _Pair(self.t("item.record_key"), item.record_key),
            _Pair(self.t("item.record_id"), str(item.record_id)),
            _Pair(self.t("item.version"), str(item.version)),
            _Pair(self.t("item.reported_at"), self.when(item.reported_at)),
            _Pair(self.t("item.valid"), f"{item.valid_from.isoformat()} – {valid_to}"),
        )
        statements = tuple(
            _Statement(self.t("item.statement"), statement.text, self.when(statement.made_at))
            for statement in item.statements
        )
        return _Item(
            anchor=f"record-{item.record_id}",
            heading=f"{number}. " + " · ".join([type_name, *naming]),
            negative=item.negative,
            disputed=item.disputed,
            repaired=item.repaired,
            field_rows=_rows(self._fields(item, record_type)),
            meta=meta,
            grid=self._grid(item.fields),
            statements=statements,
        )

    def _fields(self, item: ReportItem, record_type: RecordType | None) -> list[_Pair]:
        specs: tuple[FieldSpec, ...] = record_type.fields if record_type is not None else ()
        known = {spec.name for spec in specs}
        pairs: list[_Pair] = []
        for spec in specs:
            if spec.name not in item.fields or spec.type is FieldType.REPAYMENT_GRID:
                continue
            label = spec.label_zh if self.lang is Lang.ZH_CN else spec.label_en
            value = self.field_value(
                item.record_type, record_type, spec.name, item.fields[spec.name]
            )
            pairs.append(_Pair(label, value, wide=spec.type is FieldType.TEXT))
        # Fields the catalog does not (or no longer) define are shown under their own names.
        for name in sorted(item.fields.keys() - known):
            if name == _GRID_FIELD:
                continue
            value = self.field_value(item.record_type, None, name, item.fields[name])
            pairs.append(_Pair(name, value))
        return pairs

    def field_value(
        self, type_code: str, record_type: RecordType | None, name: str, value: Any
    ) -> str:
        if value is None:
            return self.t("value.none")
        spec: FieldSpec | None = None
        if record_type is not None and name in record_type.field_names:
            spec = record_type.field(name)
        if isinstance(value, bool):
            return self.yes_no(value)
        if spec is not None and spec.type is FieldType.ENUM and isinstance(value, str):
            return i18n.enum_label(type_code, name, value, self.lang)
        if spec is not None and spec.type is FieldType.AMOUNT:
            return _amount(value)
        if isinstance(value, dict | list):
            return json.dumps(value, ensure_ascii=False)
        return str(value)

    def _grid(self, fields: Mapping[str, Any]) -> _Grid | None:
        codes = fields.get(_GRID_FIELD)
        if not isinstance(codes, str) or not codes:
            return None
        legend = tuple(
            (code, _grid_css(code), i18n.pick(label, self.lang))
            for code, label in i18n.GRID_CODE_LABELS.items()
            if code in codes
        )
        end = _month_index(fields.get(_GRID_END_FIELD))
        first = end - len(codes) + 1 if end is not None else -1
        if end is None or first < 0 or len(codes) > GRID_LENGTH:
            return _Grid(self.t("grid.title"), self.t("grid.year"), (), legend, codes)
        by_month = {first + offset: code for offset, code in enumerate(codes)}
        rows = []
        for year in range(first // 12, end // 12 + 1):
            cells: list[_GridCell | None] = []
            for month in range(12):
                index = year * 12 + month
                code = by_month.get(index)
                if code is None:
                    cells.append(None)
                    continue
                meaning = i18n.GRID_CODE_LABELS.get(code)
                title = f"{year:04d}-{month + 1:02d}"
                if meaning is not None:
                    title += f": {i18n.pick(meaning, self.lang)}"
                cells.append(_GridCell(code, _grid_css(code), title))
            rows.append(_GridRow(f"{year:04d}", tuple(cells)))
        return _Grid(self.t("grid.title"), self.t("grid.year"), tuple(rows), legend, None)

    # -- annotations and queries

    def _record_cell(self, record_type: str, record_id: int) -> _Cell:
        label = f"{self.record_type_name(record_type)} #{record_id}"
        href = f"#record-{record_id}" if record_id in self.rendered_records else None
        return _Cell(label, href)

    def _dispute_status(self, dispute: DisputeAnnotation) -> str:
        """The status in words, then the written answer and, for an item left unresolved,
        the subject's dispute kept alongside it."""
        parts = [i18n.code_label("dispute_status", dispute.status, self.lang)]
        if dispute.written_outcome:
            parts.append(dispute.written_outcome)
        if dispute.dispute_text:
            parts.append(f"{self.t('annotation.dispute_text')}: {dispute.dispute_text}")
        return " — ".join(parts)

    def _annotations(self) -> tuple[_Block, ...]:
        annotations = self.report.annotations
        disputes = tuple(
            (
                self._record_cell(dispute.record_type, dispute.record_id),
                _Cell(self._dispute_status(dispute)),
                _Cell(self.when(dispute.opened_at)),
                _Cell(self.when(dispute.due_at) if dispute.due_at else self.t("value.none")),
            )
            for dispute in annotations.disputes
        )
        statements = tuple(
            (
                self._record_cell(statement.record_type, statement.record_id),
                _Cell(statement.text),
                _Cell(self.when(statement.made_at)),
            )
            for statement in annotations.statements
        )
        return (
            _TableBlock(
                self.t("group.disputes"),
                (
                    self.t("annotation.record"),
                    self.t("annotation.status"),
                    self.t("annotation.opened_at"),
                    self.t("annotation.due_at"),
                ),
                disputes,
                self.t("value.no_records"),
                (34, 18, 24, 24),
            ),
            _TableBlock(
                self.t("group.statements"),
                (
                    self.t("annotation.record"),
                    self.t("annotation.text"),
                    self.t("annotation.made_at"),
                ),
                statements,
                self.t("value.no_records"),
                (30, 46, 24),
            ),
        )

    def _queries(self) -> _TableBlock:
        rows = []
        for query in self.report.query_records:
            requester = query.institution_name or query.institution_code
            if not requester:
                requester = i18n.code_label("requester_kind", query.requester_kind, self.lang)
            rows.append(
                (
                    _Cell(self.when(query.occurred_at)),
                    _Cell(requester),
                    _Cell(self.purpose_name(query.purpose)),
                    _Cell(i18n.code_label("product", query.product, self.lang)),
                )
            )
        return _TableBlock(
            None,
            (
                self.t("query.occurred_at"),
                self.t("query.requester"),
                self.t("query.purpose"),
                self.t("query.product"),
            ),
            tuple(rows),
            self.t("value.no_records"),
            (26, 34, 26, 14),
        )


def _as_label(text: Any) -> tuple[str, str]:
    return (text.zh, text.en)


def _rows(pairs: Sequence[_Pair]) -> tuple[tuple[_Pair, ...], ...]:
    """Two pairs to a row; a wide pair on a row of its own."""
    rows: list[tuple[_Pair, ...]] = []
    pending: list[_Pair] = []
    for pair in pairs:
        if pair.wide:
            if pending:
                rows.append(tuple(pending))
                pending = []
            rows.append((pair,))
            continue
        pending.append(pair)
        if len(pending) == 2:
            rows.append(tuple(pending))
            pending = []
    if pending:
        rows.append(tuple(pending))
    return tuple(rows)


def _amount(value: object) -> str:
    """A decimal amount with thousands separators; anything else as given."""
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    if not amount.is_finite():
        return str(value)
    return f"{amount:,.2f}"


def _month_index(value: object) -> int | None:
    """``YYYY-MM`` as months since year 0, or ``None``."""
    if not isinstance(value, str) or len(value) != 7 or value[4] != "-":
        return None
    year, month = value[:4], value[5:]
    if not (year.isdigit() and month.isdigit()) or not 1 <= int(month) <= 12:
        return None
    return int(year) * 12 + int(month) - 1


def _grid_css(code: str) -> str:
    if code == "N":
        return "g-normal"
    if code in "1234567":
        return "g-late"
    if code in "DZ":
        return "g-settled"
    if code in "CG":
        return "g-closed"
    return "g-unknown"


def _chinese_numeral(number: int) -> str:
    if number <= 10:
        return _CHINESE_NUMERALS[number - 1]
    if number < 20:
        return "十" + _CHINESE_NUMERALS[number - 11]
    return str(number)

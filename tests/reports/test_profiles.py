"""Jurisdiction profiles: the legal rules of reports as data (RULES.md 4-9, 21-23)."""

from __future__ import annotations

import tomllib
from datetime import UTC, date, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest

from xinyong.catalog.service import get_catalog
from xinyong.institutions.schemas import KNOWN_PURPOSES, Role
from xinyong.reports.profiles import (
    ConsentRule,
    EvidenceKind,
    ProfileDefinitionError,
    UnknownProfileError,
    get_profile,
    load_profile,
    profile_codes,
)


def _source(code: str) -> str:
    entry = files("xinyong.reports") / "data" / "profiles" / f"{code}.toml"
    return entry.read_text(encoding="utf-8")


def test_the_packaged_profiles() -> None:
    assert profile_codes() == ["cn", "us"]
    cn, us = get_profile("cn"), get_profile("us")
    assert (cn.code, us.code) == ("cn", "us")
    assert get_profile("cn") is cn  # loaded once
    assert cn.profile.timezone == "Asia/Shanghai"
    assert us.profile.timezone == "UTC"
    for profile in (cn, us):
        assert profile.version
        assert profile.profile.legal_basis


def test_free_reports_and_consent_length() -> None:
    cn, us = get_profile("cn"), get_profile("us")
    # 征信业管理条例 Art. 17: two free reports a year.
    assert (cn.reports.free_reports_per_year, cn.reports.free_reports_period) == (
        2,
        "calendar_year",
    )
    # FCRA §1681j(a): one free disclosure every 12 months.
    assert (us.reports.free_reports_per_year, us.reports.free_reports_period) == (
        1,
        "rolling_12_months",
    )
    assert cn.reports.consent_max_days == us.reports.consent_max_days == 1830
    assert "tax_credit_grade" in cn.reports.public_enterprise_record_types
    assert "credit_account" not in cn.reports.public_enterprise_record_types
    assert "social_insurance_status" not in cn.reports.public_enterprise_record_types


def test_retention_periods() -> None:
    cn, us = get_profile("cn"), get_profile("us")
    # 征信业管理条例 Art. 16: five years; FCRA §1681c: seven.
    assert cn.retention["negative_information"].years == 5
    assert us.retention["negative_information"].years == 7
    assert cn.retention["account_history"].years == 5
    assert us.retention["account_history"].years == 10
    assert cn.retention["public_record"].years is None
    for profile in (cn, us):
        assert set(profile.retention) == set(get_catalog().retention_rules)
        assert all(rule.source for rule in profile.retention.values())


def test_cn_purposes() -> None:
    cn = get_profile("cn")
    assert {purpose.code for purpose in cn.purposes} == set(KNOWN_PURPOSES)
    loan = cn.purpose("loan_approval")
    assert loan is not None
    assert loan.consent is ConsentRule.REQUIRED
    assert loan.roles == (Role.QUERIER,)
    assert loan.evidence_kinds == tuple(EvidenceKind)  # any evidence by default
    post_loan = cn.purpose("post_loan_management")
    assert post_loan is not None
    assert (post_loan.consent, post_loan.exemption) == (ConsentRule.REQUIRED, "existing_customer")
    employment = cn.purpose("employment")
    assert employment is not None
    assert set(employment.evidence_kinds) == {
        EvidenceKind.DOCUMENT_HASH,
        EvidenceKind.SUBJECT_PORTAL,
    }
    own = cn.purpose("subject_request")
    assert own is not None
    assert set(own.roles) == {Role.SUBJECT, Role.OPERATOR}
    assert own.consent is ConsentRule.NOT_REQUIRED
    for code in ("court_order", "government_service"):
        rule = cn.purpose(code)
        assert rule is not None
        assert rule.requires_reference
        assert rule.consent is ConsentRule.NOT_REQUIRED
    assert cn.purpose("marketing") is None
    assert all(purpose.legal_basis for purpose in cn.purposes)
    assert loan.name("zh-CN") == "贷款审批"
    assert loan.name("en") == "Loan approval"


def test_us_purposes() -> None:
    us = get_profile("us")
    assert {purpose.code for purpose in us.purposes} == set(KNOWN_PURPOSES)
    by_code = {purpose.code: purpose for purpose in us.purposes}
    # FCRA §1681b: a permissible purpose, written consent only for employment (and the
    # profile's reading of §1681b(a)(3)(F)).
    assert by_code["loan_approval"].consent is ConsentRule.NOT_REQUIRED
    assert by_code["insurance_underwriting"].consent is ConsentRule.NOT_REQUIRED
    assert by_code["employment"].consent is ConsentRule.REQUIRED
    assert by_code["post_loan_management"].exemption == "existing_customer"


def test_end_of_day_and_today_follow_the_profile_zone() -> None:
    cn, us = get_profile("cn"), get_profile("us")
    # Midnight in Shanghai is 16:00 UTC the day before.
    assert cn.end_of_day(date(2026, 1, 1)) == datetime(2026, 1, 1, 16, tzinfo=UTC)
    assert us.end_of_day(date(2026, 1, 1)) == datetime(2026, 1, 2, tzinfo=UTC)
    evening = datetime(2026, 1, 1, 17, tzinfo=UTC)
    assert cn.today(evening) == date(2026, 1, 2)
    assert us.today(evening) == date(2026, 1, 1)


def test_an_unknown_profile() -> None:
    with pytest.raises(UnknownProfileError) as raised:
        get_profile("xx")
    assert raised.value.status == 404
    assert raised.value.code == "unknown_profile"
    assert "cn, us" in raised.value.detail


def test_a_copy_of_a_packaged_profile_loads_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "cn.toml"
    path.write_text(_source("cn"), encoding="utf-8")
    assert load_profile(path) == get_profile("cn")


def _edited(tmp_path: Path, edit: Any) -> Path:
    """The cn profile after ``edit`` changed its parsed document, written back as TOML."""
    data = tomllib.loads(_source("cn"))
    edit(data)
    path = tmp_path / "edited.toml"
    path.write_text(_dump(data), encoding="utf-8")
    return path


def _dump(data: dict[str, Any]) -> str:
    """Just enough TOML for a profile: tables of scalars and lists, arrays of tables."""

    def value(item: Any) -> str:
        if isinstance(item, bool):
            return "true" if item else "false"
        if isinstance(item, int):
            return str(item)
        if isinstance(item, date):
            return item.isoformat()
        if isinstance(item, list):
            return "[" + ", ".join(value(v) for v in item) + "]"
        return '"' + str(item).replace("\\", "\\\\").replace('"', '\\"') + '"'

    def table(name: str, body: dict[str, Any], header: str = "[{}]") -> list[str]:
        lines = [header.format(name)]
        lines += [f"{k} = {value(v)}" for k, v in body.items() if not isinstance(v, dict)]
        for key, sub in body.items():
            if isinstance(sub, dict):
                lines += table(f"{name}.{key}", sub)
        return lines

    lines: list[str] = []
    for key, body in data.items():
        if isinstance(body, list):
            for entry in body:
                lines += table(key, entry, "[[{}]]")
        else:
            lines += table(key, body)
    return "\n".join(lines) + "\n"


def test_the_dump_helper_round_trips(tmp_path: Path) -> None:
    assert load_profile(_edited(tmp_path, lambda data: None)) == get_profile("cn")


def _add_purpose(data: dict[str, Any], code: str) -> None:
    data["purposes"].append({**data["purposes"][0], "code": code})


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: _add_purpose(d, "marketing"), "unknown purposes ['marketing']"),
        (lambda d: _add_purpose(d, "loan_approval"), "purpose codes must be unique"),
        (lambda d: d["retention"].pop("account_history"), "no retention period"),
        (lambda d: d["retention"].update(forever={"source": "x"}), "not in the catalog"),
        (lambda d: d["profile"].update(timezone="Mars/Olympus"), "unknown timezone"),
        (
            lambda d: d["reports"]["public_enterprise_record_types"].append("horoscope"),
            "unknown types ['horoscope']",
        ),
        (lambda d: d["profile"].update(code="CN!"), "code"),
        (lambda d: d["reports"].update(free_reports_per_year=-1), "free_reports_per_year"),
        (lambda d: d["reports"].update(free_reports_period="weekly"), "free_reports_period"),
        (lambda d: d["retention"]["negative_information"].update(years=0), "years"),
        (lambda d: d["purposes"][0].update(roles=[]), "roles"),
        (lambda d: d["purposes"][0].update(consent="sometimes"), "consent"),
        (lambda d: d["purposes"][0].update(exemption="friends"), "exemption"),
        (lambda d: d["purposes"][0].update(colour="red"), "colour"),
    ],
    ids=[
        "unknown-purpose",
        "duplicate-purpose",
        "missing-retention",
        "extra-retention",
        "timezone",
        "public-type",
        "code",
        "negative-allowance",
        "period",
        "zero-years",
        "no-roles",
        "consent-rule",
        "exemption",
        "extra-key",
    ],
)
def test_a_broken_profile_is_refused(tmp_path: Path, edit: Any, message: str) -> None:
    path = _edited(tmp_path, edit)
    with pytest.raises(ProfileDefinitionError) as raised:
        load_profile(path)
    assert raised.value.code == "profile_definition_error"
    assert message in raised.value.detail
    assert str(path) in raised.value.detail


def test_an_unreadable_profile_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ProfileDefinitionError, match="cannot read"):
        load_profile(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[profile\ncode = 'cn'\n", encoding="utf-8")
    with pytest.raises(ProfileDefinitionError):
        load_profile(bad)
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b"name = '\xe9'\n")
    with pytest.raises(ProfileDefinitionError):
        load_profile(latin)

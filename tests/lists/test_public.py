"""Public disclosure: enterprise search and profile, the court list by identifier (no login)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from reports.helpers import Furnish, enterprise_row, make_subject, operator, person_row
from support import new_resident_id, new_uscc
from xinyong.catalog.service import get_catalog
from xinyong.db import transaction, utcnow
from xinyong.identity.crypto import KeyRing
from xinyong.identity.identifiers import make_uscc, mask_identifier
from xinyong.identity.models import OrganisationName, Subject
from xinyong.identity.service import sync_organisation_names
from xinyong.institutions.models import Institution
from xinyong.lists import service
from xinyong.lists.definitions import PenaltySeverityPublicity, get_definitions
from xinyong.lists.public import licence_is_public, mask_name, penalty_publicity_ends
from xinyong.lists.schemas import EntryCreate
from xinyong.reports.schemas import SubjectSelector

TODAY = utcnow().date()
PROBLEM = "application/problem+json"
REGULATOR = "北京市朝阳区市场监督管理局"
_SEQ = iter(range(30_000_000, 40_000_000))


def individual_business_uscc() -> str:
    """A USCC of an individual business (个体工商户): registration-management code 92."""
    return make_uscc("9", "2", "110101", f"{next(_SEQ):08d}")


@pytest.fixture
def regulator(make_institution: Any) -> Institution:
    return make_institution(
        "regulator-a",
        record_types=[
            "administrative_licence",
            "administrative_penalty",
            "dishonest_debtor_listing",
            "credit_account",
        ],
    )


@pytest.fixture
def furnish(
    tmp_path: Path, factory: sessionmaker[Session], keys: KeyRing, regulator: Institution
) -> Furnish:
    return Furnish(tmp_path, factory, keys, regulator)


def company_row(uscc: str, record_type: str, key: str, name: str, **fields: Any) -> dict[str, Any]:
    return {**enterprise_row(uscc, record_type, key, **fields), "subject_name": name}


def licence(
    uscc: str,
    key: str,
    *,
    name: str = "北京星河数据服务有限公司",
    decided: date = TODAY - timedelta(days=100),
    status: str = "valid",
    valid_until: date | None = None,
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "valid_from": decided.isoformat(),
        "decision_number": f"京朝市监许〔2026〕{key}号",
        "licence_name": "食品经营许可证",
        "licence_category": "general",
        "authority": REGULATOR,
        "decision_date": decided.isoformat(),
        "status": status,
    }
    if valid_until is not None:
        fields["valid_until"] = valid_until.isoformat()
    return company_row(uscc, "administrative_licence", key, name, **fields)


def penalty(
    uscc: str,
    key: str,
    *,
    name: str = "北京星河数据服务有限公司",
    decided: date = TODAY - timedelta(days=30),
    severity: str = "general",
    penalty_type: str = "fine",
    fine: str | None = "5000.00",
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "valid_from": decided.isoformat(),
        "decision_number": f"京朝市监罚〔2026〕{key}号",
        "violation_type": "虚假宣传",
        "penalty_type": penalty_type,
        "severity": severity,
        "authority": REGULATOR,
        "decision_date": decided.isoformat(),
    }
    if fine is not None:
        fields["fine_amount"] = fine
    return company_row(uscc, "administrative_penalty", key, name, **fields)


def listing(
    identifier: str,
    key: str,
    *,
    kind: str = "person",
    listed: date = TODAY - timedelta(days=30),
    name: str | None = None,
    **more: Any,
) -> dict[str, Any]:
    fields = {
        "valid_from": listed.isoformat(),
        "case_number": f"(2026)京0105执{key}号",
        "court": "北京市朝阳区人民法院",
        "ground": "evades_enforcement",
        "obligation": "支付货款及利息",
        "performance": "not_performed",
        "listing_date": listed.isoformat(),
        **more,
    }
    row = (person_row if kind == "person" else enterprise_row)(
        identifier, "dishonest_debtor_listing", key, **fields
    )
    if name is not None:
        row["subject_name"] = name
    return row


def months_ago(months: int, days: int = 0) -> date:
    return service.add_months(TODAY, -months) - timedelta(days=days)


def assert_problem(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["code"] == code


def search(client: TestClient, q: str, **params: Any) -> dict[str, Any]:
    response = client.get("/v1/public/enterprises", params={"q": q, **params})
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


# --- the rules as data -------------------------------------------------------------------------


def test_publicity_rules_are_data_with_sources() -> None:
    publicity = get_definitions().publicity
    months = {rule.severity: rule.months for rule in publicity.penalties.severities}
    assert months == {"minor": 3, "general": 12, "serious": 36}
    assert all(rule.source for rule in publicity.penalties.severities)
    assert publicity.penalties.unpublished_penalty_types == ("warning",)
    assert publicity.licences.published_statuses == ("valid",)
    # Every severity the catalog knows has a rule.
    field = next(
        f
        for f in get_catalog().record_type(publicity.penalties.record_type).fields
        if f.name == "severity"
    )
    assert set(field.values or ()) == set(months)
    with pytest.raises(ValidationError, match="within"):
        PenaltySeverityPublicity(
            severity="general", min_months=3, max_months=12, months=24, source="x"
        )


def test_penalty_and_licence_publicity_as_of_a_day() -> None:
    decided = date(2026, 1, 15)
    fields = {"severity": "general", "penalty_type": "fine", "decision_date": "2026-01-15"}
    assert penalty_publicity_ends(fields, decided) == date(2027, 1, 14)
    assert penalty_publicity_ends(fields, date(2027, 1, 14)) == date(2027, 1, 14)
    assert penalty_publicity_ends(fields, date(2027, 1, 15)) is None
    assert penalty_publicity_ends(fields, decided - timedelta(days=1)) is None  # not yet
    # A repaired penalty stops being published at once (the repair model will say so).
    assert penalty_publicity_ends(fields, decided, repaired=True) is None
    assert penalty_publicity_ends({**fields, "penalty_type": "warning"}, decided) is None
    assert penalty_publicity_ends({**fields, "severity": "unknown"}, decided) is None
    assert penalty_publicity_ends({**fields, "severity": "minor"}, decided) == date(2026, 4, 14)
    assert penalty_publicity_ends({**fields, "severity": "serious"}, decided) == date(2029, 1, 14)

    valid = {"status": "valid", "decision_date": "2026-01-15", "valid_until": "2026-12-31"}
    assert licence_is_public(valid, date(2026, 12, 31))
    assert not licence_is_public(valid, date(2027, 1, 1))
    assert not licence_is_public({**valid, "status": "revoked"}, date(2026, 6, 1))
    assert not licence_is_public({**valid, "status": "cancelled"}, date(2026, 6, 1))
    assert mask_name("欧阳修远") == "欧***"
    assert mask_name("李") == "*"


# --- search ---------------------------------------------------------------------------------------


def test_search_by_uscc_and_by_name_fragments(
    client: TestClient, factory: sessionmaker[Session], keys: KeyRing, furnish: Furnish
) -> None:
    galaxy, ocean = new_uscc(), new_uscc()
    furnish(
        {**licence(galaxy, "S1"), "subject_name_en": "Beijing Galaxy Data Services Co., Ltd."},
        licence(ocean, "S2", name="深圳市蓝海物流有限公司（北京）"),
    )
    exact = search(client, f" {galaxy.lower()} ")
    assert exact["match"] == "uscc"
    assert exact["items"] == [
        {
            "uscc": galaxy,
            "name": "北京星河数据服务有限公司",
            "name_en": "Beijing Galaxy Data Services Co., Ltd.",
            "kind": "enterprise",
            "individual_business": False,
        }
    ]
    assert search(client, new_uscc())["items"] == []  # valid, unknown

    assert [i["uscc"] for i in search(client, "星河")["items"]] == [galaxy]
    assert [i["uscc"] for i in search(client, "galaxy DATA")["items"]] == [galaxy]
    # Full-width forms match their ASCII equivalents (NFKC), both ways.
    assert [i["uscc"] for i in search(client, "ＧＡＬＡＸＹ")["items"]] == [galaxy]
    assert [i["uscc"] for i in search(client, "(北京)")["items"]] == [ocean]
    assert {i["uscc"] for i in search(client, "有限公司")["items"]} == {galaxy, ocean}
    # LIKE wildcards are literal.
    assert search(client, "%%")["items"] == []
    assert search(client, "__")["items"] == []

    first = search(client, "有限公司", limit=1)
    second = search(client, "有限公司", limit=1, offset=1)
    assert first["more"] is True
    assert second["more"] is False
    assert {first["items"][0]["uscc"], second["items"][0]["uscc"]} == {galaxy, ocean}


def test_persons_and_individual_businesses_are_not_found_by_name(
    client: TestClient, factory: sessionmaker[Session], keys: KeyRing, furnish: Furnish
) -> None:
    shop = individual_business_uscc()
    person = new_resident_id()
    furnish(
        licence(shop, "S3", name="欧阳修远便利店"),
        listing(person, "S4", name="欧阳修远"),
    )
    assert search(client, "欧阳")["items"] == []
    assert search(client, "便利店")["items"] == []
    # Found by its code, without its name, which is usually its owner's.
    [found] = search(client, shop)["items"]
    assert found == {
        "uscc": shop,
        "name": None,
        "name_en": None,
        "kind": "enterprise",
        "individual_business": True,
    }
    profile = client.get(f"/v1/public/enterprises/{shop}").json()
    assert profile["name"] is None
    assert [item["decision_number"] for item in profile["licences"]] == ["京朝市监许〔2026〕S3号"]
    # A person's Resident ID is no USCC: refused as malformed, never looked up as a person.
    assert_problem(
        client.get("/v1/public/enterprises", params={"q": person}), 400, "invalid_identifier"
    )
    assert client.get(f"/v1/public/enterprises/{person}").status_code in (400, 404)
    with factory() as session:
        names = session.scalars(select(OrganisationName.name)).all()
    assert "欧阳修远便利店" not in names
    assert "欧阳修远" not in names


def test_the_name_index_is_rebuilt_for_existing_organisations(
    client: TestClient, factory: sessionmaker[Session], keys: KeyRing, furnish: Furnish
) -> None:
    company, shop = new_uscc(), individual_business_uscc()
    furnish(
        licence(company, "S5", name="杭州云栖科技有限公司"), licence(shop, "S6", name="张三小吃店")
    )
    make_subject(factory, keys, "resident_id", new_resident_id())
    with transaction(factory) as session:
        session.execute(delete(OrganisationName))  # as before migration 0006
    assert search(client, "云栖")["items"] == []
    with transaction(factory) as session:
        assert sync_organisation_names(session, keys) == 1
    with transaction(factory) as session:
        assert sync_organisation_names(session, keys) == 0  # idempotent
    assert [i["uscc"] for i in search(client, "云栖")["items"]] == [company]
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(OrganisationName)) == 1


# --- an enterprise's profile ----------------------------------------------------------------------


def test_the_profile_shows_only_what_is_in_publicity(
    client: TestClient, factory: sessionmaker[Session], keys: KeyRing, furnish: Furnish
) -> None:
    company = new_uscc()
    furnish(
        licence(company, "L-valid", valid_until=TODAY + timedelta(days=300)),
        licence(company, "L-open"),
        licence(company, "L-revoked", status="revoked"),
        licence(company, "L-cancelled", status="cancelled"),
        licence(company, "L-ran-out", valid_until=TODAY - timedelta(days=1)),
        penalty(company, "P-serious", severity="serious", decided=months_ago(30)),
        penalty(company, "P-general", severity="general", decided=months_ago(11)),
        penalty(company, "P-general-old", severity="general", decided=months_ago(12, 1)),
        penalty(company, "P-minor", severity="minor", decided=months_ago(2), fine=None),
        penalty(company, "P-minor-old", severity="minor", decided=months_ago(3, 1)),
        penalty(company, "P-warning", severity="minor", penalty_type="warning", fine=None),
        penalty(company, "P-revoked", severity="serious"),
    )
    # A revoked decision is withdrawn: the authority deletes its record.
    furnish(
        {
            "record_type": "administrative_penalty",
            "record_key": "P-revoked",
            "subject_id_type": "uscc",
            "subject_identifier": company,
            "action": "delete",
            "reason": "decision revoked on review",
        }
    )
    before = utcnow().date()
    response = client.get(f"/v1/public/enterprises/{company}")
    assert response.status_code == 200, response.text
    profile = response.json()
    assert profile["uscc"] == company
    assert profile["name"] == "北京星河数据服务有限公司"
    # The day the request was served (the suite may run across midnight).
    assert profile["as_of"] in {before.isoformat(), utcnow().date().isoformat()}
    assert sorted(item["decision_number"] for item in profile["licences"]) == [
        "京朝市监许〔2026〕L-open号",
        "京朝市监许〔2026〕L-valid号",
    ]
    penalties = {item["decision_number"]: item for item in profile["penalties"]}
    assert set(penalties) == {
        "京朝市监罚〔2026〕P-serious号",
        "京朝市监罚〔2026〕P-general号",
        "京朝市监罚〔2026〕P-minor号",
    }
    serious = penalties["京朝市监罚〔2026〕P-serious号"]
    assert serious == {
        "decision_number": "京朝市监罚〔2026〕P-serious号",
        "violation_type": "虚假宣传",
        "penalty_type": "fine",
        "fine_amount": "5000.00",
        "severity": "serious",
        "authority": REGULATOR,
        "decision_date": months_ago(30).isoformat(),
        "publicity_ends_on": (
            service.add_months(months_ago(30), 36) - timedelta(days=1)
        ).isoformat(),
    }
    assert penalties["京朝市监罚〔2026〕P-minor号"]["fine_amount"] is None
    # Newest first.
    dates = [item["decision_date"] for item in profile["penalties"]]
    assert dates == sorted(dates, reverse=True)
    # Nothing internal: no record keys, furnishers or platform ids.
    text = response.text
    for internal in (
        "record_key",
        "furnisher",
        "subject_id",
        "record_id",
        "P-revoked",
        "regulator-a",
    ):
        assert internal not in text


def test_list_entries_are_public_only_while_active(
    client: TestClient, factory: sessionmaker[Session], keys: KeyRing, furnish: Furnish
) -> None:
    company = new_uscc()
    furnish(
        listing(company, "E-active", kind="enterprise"),
        listing(company, "E-performed", kind="enterprise", performance="performed"),
        # A two-year term that ran out two months ago; the job has not run.
        listing(company, "E-expired", kind="enterprise", listed=months_ago(26)),
    )
    company_id = make_subject(factory, keys, "uscc", company)
    with transaction(factory) as session:
        subject = session.get(Subject, company_id)
        assert subject is not None

        def entry(list_type: str, ground: str, start: date, reference: str) -> int:
            return service.create_entry(
                session,
                operator(),
                subject,
                EntryCreate(
                    subject=SubjectSelector(subject_id=company_id),
                    list_type=list_type,
                    ground=ground,
                    authority=REGULATOR,
                    reference=reference,
                    start_date=start,
                    reason="decision of the authority",
                ),
            ).id

        repaired = entry("serious_dishonesty", "refuses_obligation", months_ago(6), "R-1")
        entry("abnormal_operations", "no_annual_report", months_ago(37), "A-1")
        service.end_entry(session, operator(), repaired, "repaired", "credit repair approved")
    entries = client.get(f"/v1/public/enterprises/{company}").json()["list_entries"]
    by_type = {item["list_type"]: item for item in entries}
    assert set(by_type) == {"court_dishonest_debtors", "serious_violation"}
    court = by_type["court_dishonest_debtors"]
    assert court == {
        "list_type": "court_dishonest_debtors",
        "list_name_zh": "失信被执行人名单",
        "list_name_en": "List of dishonest judgment debtors",
        "polarity": "negative",
        "ground": "evades_enforcement",
        "ground_name_zh": "以虚假诉讼、虚假仲裁或者以隐匿、转移财产等方法规避执行",
        "ground_name_en": "Evades enforcement",
        "authority": "北京市朝阳区人民法院",
        "case_number": "(2026)京0105执E-active号",
        "start_date": (TODAY - timedelta(days=30)).isoformat(),
        "planned_end_date": service.add_months(TODAY - timedelta(days=30), 24).isoformat(),
    }
    # Three years on the abnormal list count as the serious-violation list at once.
    escalated = by_type["serious_violation"]
    assert escalated["ground"] == "abnormal_three_years"
    assert escalated["start_date"] == service.add_months(months_ago(37), 36).isoformat()
    assert escalated["case_number"] == "A-1"


def test_an_unknown_enterprise_and_bad_codes(client: TestClient) -> None:
    assert_problem(client.get(f"/v1/public/enterprises/{new_uscc()}"), 404, "enterprise_not_found")
    assert_problem(
        client.get("/v1/public/enterprises/91110000600037341N"), 400, "invalid_identifier"
    )
    assert_problem(
        client.get("/v1/public/enterprises/9111000060003IOZSV"), 400, "invalid_identifier"
    )
    assert_problem(client.get("/v1/public/enterprises/9111"), 422, "validation_error")
    assert_problem(
        client.get("/v1/public/enterprises", params={"q": "91110000600037341N"}),
        400,
        "invalid_identifier",
    )
    assert_problem(
        client.get("/v1/public/enterprises", params={"q": "星"}), 422, "validation_error"
    )
    assert_problem(
        client.get("/v1/public/enterprises", params={"q": " 星 "}), 400, "invalid_public_query"
    )
    assert_problem(
        client.get("/v1/public/enterprises", params={"q": "星河", "limit": 500}),
        422,
        "validation_error",
    )
    assert_problem(client.get("/v1/public/enterprises"), 422, "validation_error")


# --- the court list by identifier -----------------------------------------------------------------


def test_court_list_persons_are_masked(
    client: TestClient, factory: sessionmaker[Session], keys: KeyRing, furnish: Furnish
) -> None:
    person, company = new_resident_id(), new_uscc()
    furnish(
        listing(person, "D1", name="欧阳修远"),
        listing(company, "D2", kind="enterprise", name="北京星河数据服务有限公司"),
    )
    response = client.get("/v1/public/dishonest-debtors", params={"identifier": person})
    assert response.status_code == 200, response.text
    [entry] = response.json()["entries"]
    assert entry["name"] == "欧***"
    assert entry["identifier"] == mask_identifier(person)
    assert entry["kind"] == "person"
    assert entry["case_number"] == "(2026)京0105执D1号"
    assert entry["authority"] == "北京市朝阳区人民法院"
    assert person not in response.text
    assert "欧阳修远" not in response.text

    [entry] = client.get(
        "/v1/public/dishonest-debtors", params={"identifier": company.lower()}
    ).json()["entries"]
    assert (entry["name"], entry["identifier"], entry["kind"]) == (
        "北京星河数据服务有限公司",
        company,
        "enterprise",
    )


def test_an_unknown_identifier_gets_the_unlisted_answer(
    client: TestClient, factory: sessionmaker[Session], keys: KeyRing, furnish: Furnish
) -> None:
    on_platform, ended, other_list = new_resident_id(), new_resident_id(), new_resident_id()
    furnish(listing(ended, "D3", performance="performed"))
    make_subject(factory, keys, "resident_id", on_platform)
    other_id = make_subject(factory, keys, "resident_id", other_list)
    with transaction(factory) as session:
        subject = session.get(Subject, other_id)
        assert subject is not None
        # A list whose persons are not public: never disclosed.
        service.create_entry(
            session,
            operator(),
            subject,
            EntryCreate(
                subject=SubjectSelector(subject_id=other_id),
                list_type="serious_dishonesty",
                ground="refuses_obligation",
                authority="国家发展和改革委员会",
                reason="decision 2026-18",
            ),
        )
    before = utcnow().date()
    answers = [
        client.get("/v1/public/dishonest-debtors", params={"identifier": identifier})
        for identifier in (new_resident_id(), on_platform, ended, other_list, new_uscc())
    ]
    assert all(answer.status_code == 200 for answer in answers)
    assert {answer.content for answer in answers} == {answers[0].content}
    served = {before.isoformat(), utcnow().date().isoformat()}  # the suite may pass midnight
    body = answers[0].json()
    assert body["as_of"] in served
    assert body == {"as_of": body["as_of"], "entries": []}

    assert_problem(
        client.get("/v1/public/dishonest-debtors", params={"identifier": "360426199101010072"}),
        400,
        "invalid_identifier",
    )
    assert_problem(client.get("/v1/public/dishonest-debtors"), 422, "validation_error")

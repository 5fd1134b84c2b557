"""Lists: entries from court records and operators, terms, bindings, checks, history."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from reports.helpers import Furnish, enterprise_row, make_subject, operator, person_row
from support import new_resident_id, new_uscc
from xinyong.db import transaction, utcnow
from xinyong.identity.crypto import KeyRing
from xinyong.identity.models import Subject
from xinyong.institutions.models import Institution
from xinyong.institutions.schemas import Role
from xinyong.lists import service
from xinyong.lists.definitions import BindingRole, get_definitions
from xinyong.lists.models import ListEntry, ListEntryEvent
from xinyong.lists.schemas import EntryCreate
from xinyong.reports.models import QueryRecord
from xinyong.reports.schemas import SubjectSelector

TODAY = utcnow().date()
PROBLEM = "application/problem+json"


@pytest.fixture
def court(make_institution: Any) -> Institution:
    return make_institution(
        "court-a",
        record_types=["dishonest_debtor_listing", "tax_credit_grade", "commendation"],
    )


@pytest.fixture
def by_court(
    tmp_path: Path, factory: sessionmaker[Session], keys: KeyRing, court: Institution
) -> Furnish:
    return Furnish(tmp_path, factory, keys, court)


def listing(
    identifier: str,
    key: str,
    *,
    kind: str = "person",
    ground: str = "evades_enforcement",
    listed: date = TODAY - timedelta(days=30),
    **more: Any,
) -> dict[str, Any]:
    fields = {
        "valid_from": listed.isoformat(),
        "case_number": f"(2026)京0105执{key}号",
        "court": "北京市朝阳区人民法院",
        "ground": ground,
        "obligation": "支付货款及利息",
        "performance": "not_performed",
        "listing_date": listed.isoformat(),
        **more,
    }
    row = person_row if kind == "person" else enterprise_row
    return row(identifier, "dishonest_debtor_listing", key, **fields)


def _subject(factory: sessionmaker[Session], subject_id: int) -> Subject:
    with factory() as session:
        subject = session.get(Subject, subject_id)
        assert subject is not None
        return subject


def _entries(factory: sessionmaker[Session], subject_id: int) -> list[ListEntry]:
    with factory() as session:
        return list(
            session.scalars(
                select(ListEntry).where(ListEntry.subject_id == subject_id).order_by(ListEntry.id)
            )
        )


def _events(factory: sessionmaker[Session], entry_id: int) -> list[str]:
    with factory() as session:
        return [
            e.event
            for e in session.scalars(
                select(ListEntryEvent)
                .where(ListEntryEvent.entry_id == entry_id)
                .order_by(ListEntryEvent.id)
            )
        ]


def test_the_definitions_cite_their_law_and_resolve() -> None:
    definitions = get_definitions()
    court_list = definitions.list_type("court_dishonest_debtors")
    assert len(court_list.grounds) == 6
    assert court_list.term_months == 24
    assert court_list.extension_months == (12, 36)
    assert court_list.ground("able_but_refuses").until_performance  # type: ignore[union-attr]
    spending = [m for m in definitions.measures if m.category == "spending_ban"]
    assert len(spending) == 9
    assert all(m.legal_basis for m in definitions.measures)
    assert all(t.legal_basis for t in definitions.list_types)
    assert definitions.list_type("abnormal_operations").escalates_to == "serious_violation"
    assert {t.code for t in definitions.list_types if t.polarity == "positive"} >= {
        "a_grade_taxpayers",
        "commended",
    }


def test_a_court_listing_record_creates_extends_and_removes_its_entry(
    factory: sessionmaker[Session], keys: KeyRing, by_court: Furnish
) -> None:
    person = new_resident_id()
    by_court(listing(person, "L1"))
    subject_id = make_subject(factory, keys, "resident_id", person)
    [entry] = _entries(factory, subject_id)
    assert entry.list_type == "court_dishonest_debtors"
    assert entry.status == "active"
    assert entry.source == "record"
    assert entry.planned_end_date == service.add_months(entry.start_date, 24)
    assert entry.reference == "(2026)京0105执L1号"

    later = service.add_months(entry.start_date, 48)
    by_court(listing(person, "L1", term_end_date=later.isoformat()))
    [entry] = _entries(factory, subject_id)
    assert entry.planned_end_date == later

    by_court(listing(person, "L1", term_end_date=later.isoformat(), performance="performed"))
    [entry] = _entries(factory, subject_id)
    assert entry.status == "removed"
    assert entry.end_reason == "performed"
    assert _events(factory, entry.id) == ["created", "extended", "removed"]


def test_able_but_refuses_lasts_until_performance(
    factory: sessionmaker[Session], keys: KeyRing, by_court: Furnish
) -> None:
    person = new_resident_id()
    by_court(listing(person, "L2", ground="able_but_refuses", listed=TODAY - timedelta(days=900)))
    subject_id = make_subject(factory, keys, "resident_id", person)
    [entry] = _entries(factory, subject_id)
    assert entry.planned_end_date is None
    with factory() as session:
        subject = session.get(Subject, subject_id)
        assert subject is not None
        decision = service.check_restriction(session, subject, "ban_flights")
    # Past the usual 2-year term, still restricted, with no end in sight.
    assert not decision.allowed
    assert decision.measures[0].until is None


def test_an_entry_past_its_term_stops_restricting_before_the_job_runs(
    factory: sessionmaker[Session], keys: KeyRing, by_court: Furnish
) -> None:
    person = new_resident_id()
    listed = TODAY - timedelta(days=800)  # a 2-year term: ended about two months ago
    by_court(listing(person, "L3", listed=listed))
    subject_id = make_subject(factory, keys, "resident_id", person)
    with factory() as session:
        subject = session.get(Subject, subject_id)
        assert subject is not None
        decision = service.check_restriction(session, subject, "ban_flights")
        assert decision.allowed
        # As of a day within the term, the same entry restricts.
        earlier = service.check_restriction(
            session, subject, "ban_flights", today=listed + timedelta(days=10)
        )
        assert not earlier.allowed
    [entry] = _entries(factory, subject_id)
    assert entry.status == "active"  # stored state still says so
    with transaction(factory) as session:
        result = service.run_maintenance(session)
    assert result.expired >= 1
    [entry] = _entries(factory, subject_id)
    assert entry.status == "expired"
    assert entry.ended_on == entry.planned_end_date
    with transaction(factory) as session:
        assert service.run_maintenance(session).expired == 0  # idempotent


def test_a_restriction_names_entries_measures_laws_bodies_and_its_end(
    factory: sessionmaker[Session], keys: KeyRing, by_court: Furnish
) -> None:
    person = new_resident_id()
    by_court(listing(person, "L4"))
    subject_id = make_subject(factory, keys, "resident_id", person)
    with factory() as session:
        subject = session.get(Subject, subject_id)
        assert subject is not None
        one = service.check_restriction(session, subject, "ban_first_class_rail")
        every = service.check_restriction(session, subject, None)
    assert not one.allowed
    [measure] = one.measures
    assert measure.applying_body == "China State Railway Group"
    assert measure.legal_basis == "法释〔2015〕17号 Art. 3(9)"
    assert measure.memorandum == "spending_ban_2015"
    [ref] = measure.entries
    assert ref.list_type == "court_dishonest_debtors"
    assert ref.bound_as is None
    assert measure.until == ref.planned_end_date
    codes = {m.measure for m in every.measures}
    assert (
        len(
            [
                c
                for c in codes
                if c.startswith("ban_")
                and c not in ("ban_government_procurement", "ban_public_bidding")
            ]
        )
        == 9
    )
    assert {"ban_government_procurement", "ban_public_bidding", "restrict_market_access"} <= codes
    with factory() as session:
        clean = session.get(Subject, make_subject(factory, keys, "resident_id", new_resident_id()))
        assert clean is not None
        assert service.check_restriction(session, clean, "ban_flights").allowed


def test_an_enterprise_entry_binds_its_legal_representative(
    factory: sessionmaker[Session], keys: KeyRing, by_court: Furnish
) -> None:
    company = new_uscc()
    by_court(listing(company, "L5", kind="enterprise"))
    company_id = make_subject(factory, keys, "uscc", company)
    boss_id = make_subject(factory, keys, "resident_id", new_resident_id())
    [entry] = _entries(factory, company_id)
    with transaction(factory) as session:
        boss = session.get(Subject, boss_id)
        assert boss is not None
        service.add_binding(
            session,
            operator(),
            entry.id,
            boss,
            BindingRole.LEGAL_REPRESENTATIVE,
            "business licence",
        )
    with factory() as session:
        boss = session.get(Subject, boss_id)
        assert boss is not None
        flights = service.check_restriction(session, boss, "ban_flights")
        procurement = service.check_restriction(session, boss, "ban_government_procurement")
    assert not flights.allowed
    assert flights.measures[0].entries[0].bound_as is BindingRole.LEGAL_REPRESENTATIVE
    assert flights.measures[0].entries[0].listed_subject_id == company_id
    # The procurement ban binds the enterprise only, not its representative.
    assert procurement.allowed


def test_operators_list_with_a_reason_and_abnormal_operations_escalate(
    factory: sessionmaker[Session], keys: KeyRing
) -> None:
    company_id = make_subject(factory, keys, "uscc", new_uscc())
    person_id = make_subject(factory, keys, "resident_id", new_resident_id())
    started = service.add_months(TODAY, -37)
    with transaction(factory) as session:
        company = session.get(Subject, company_id)
        assert company is not None
        entry = service.create_entry(
            session,
            operator(),
            company,
            EntryCreate(
                subject=SubjectSelector(subject_id=company_id),
                list_type="abnormal_operations",
                ground="no_annual_report",
                authority="北京市朝阳区市场监督管理局",
                reference="京朝市监异〔2023〕1号",
                start_date=started,
                reason="annual report for 2022 not published",
            ),
        )
        entry_id = entry.id
    with factory() as session:
        company = session.get(Subject, company_id)
        assert company is not None
        decision = service.check_restriction(session, company, "restrict_market_access")
    # Three years on the abnormal list count as the serious-violation list at once.
    assert not decision.allowed
    assert decision.measures[0].entries[0].list_type == "serious_violation"
    with transaction(factory) as session:
        assert service.run_maintenance(session).escalated == 1
    entries = _entries(factory, company_id)
    assert [(e.list_type, e.status) for e in entries] == [
        ("abnormal_operations", "escalated"),
        ("serious_violation", "active"),
    ]
    assert entries[1].escalated_from_id == entry_id

    with factory() as session:
        person = session.get(Subject, person_id)
        assert person is not None
        for list_type, ground, message in (
            ("abnormal_operations", "no_annual_report", "not person"),
            ("court_dishonest_debtors", "evades_enforcement", "come from"),
            ("serious_dishonesty", "no_such_ground", "not a ground"),
        ):
            data = EntryCreate(
                subject=SubjectSelector(subject_id=person_id),
                list_type=list_type,
                ground=ground,
                authority="x",
                reason="refused",
            )
            with pytest.raises(service.InvalidListEntryError, match=message):
                service.create_entry(session, operator(), person, data)
        session.rollback()


def test_trustworthy_lists_grant_incentives_unless_a_negative_entry_blocks_them(
    factory: sessionmaker[Session], keys: KeyRing, by_court: Furnish
) -> None:
    company = new_uscc()
    by_court(
        enterprise_row(
            company,
            "tax_credit_grade",
            "T1",
            valid_from=f"{TODAY.year - 1}-04-01",
            tax_year=TODAY.year - 1,
            grade="A",
            authority="国家税务总局北京市税务局",
        ),
        enterprise_row(
            company,
            "tax_credit_grade",
            "T0",
            valid_from=f"{TODAY.year - 2}-04-01",
            tax_year=TODAY.year - 2,
            grade="B",
            authority="国家税务总局北京市税务局",
        ),
    )
    company_id = make_subject(factory, keys, "uscc", company)
    [entry] = _entries(factory, company_id)  # grade B makes no entry
    assert entry.list_type == "a_grade_taxpayers"
    assert entry.start_date == date(TODAY.year, 1, 1)
    with factory() as session:
        subject = session.get(Subject, company_id)
        assert subject is not None
        eligible = service.check_eligibility(session, keys, subject, "green_channel")
    assert eligible.allowed
    assert eligible.measures[0].entries[0].list_type == "a_grade_taxpayers"

    by_court(listing(company, "L6", kind="enterprise"))
    with factory() as session:
        subject = session.get(Subject, company_id)
        assert subject is not None
        blocked = service.check_eligibility(session, keys, subject, "green_channel")
        with pytest.raises(service.InvalidListEntryError, match="restriction"):
            service.check_eligibility(session, keys, subject, "ban_flights")
    assert not blocked.allowed
    assert blocked.measures == []
    assert [ref.list_type for ref in blocked.blocking_entries] == ["court_dishonest_debtors"]


# --- over HTTP ---------------------------------------------------------------------------------


def test_checks_over_http_are_query_records(
    client: TestClient,
    factory: sessionmaker[Session],
    keys: KeyRing,
    by_court: Furnish,
    make_institution: Any,
    make_key: Any,
) -> None:
    person = new_resident_id()
    by_court(listing(person, "L7"))
    subject_id = make_subject(factory, keys, "resident_id", person)
    airline = make_institution("airline", purposes=["loan_approval"])
    key = make_key(Role.QUERIER, airline)
    headers = {"Authorization": f"Bearer {key}"}
    body = {"subject": {"identifier": person}, "measure": "ban_flights"}
    denied = client.post("/v1/checks/restriction", json=body, headers=headers)
    assert denied.status_code == 200, denied.text
    document = denied.json()
    assert document["allowed"] is False
    assert document["measures"][0]["entries"][0]["reference"] == "(2026)京0105执L7号"
    eligible = client.post(
        "/v1/checks/eligibility", json={"subject": {"subject_id": subject_id}}, headers=headers
    ).json()
    assert eligible["allowed"] is False
    assert eligible["blocking_entries"]
    with factory() as session:
        records = session.scalars(
            select(QueryRecord).where(QueryRecord.subject_id == subject_id).order_by(QueryRecord.id)
        ).all()
    assert [(r.product, r.purpose, r.institution_id) for r in records] == [
        ("check", "restriction_check", airline.id),
        ("check", "eligibility_check", airline.id),
    ]
    assert document["query_record_id"] == records[0].id

    unknown = client.post(
        "/v1/checks/restriction", json={**body, "measure": "ban_space_travel"}, headers=headers
    )
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith(PROBLEM)
    assert unknown.json()["code"] == "unknown_measure"
    furnisher_key = make_key(
        Role.FURNISHER, make_institution("bank-x", record_types=["credit_account"])
    )
    refused = client.post(
        "/v1/checks/restriction", json=body, headers={"Authorization": f"Bearer {furnisher_key}"}
    )
    assert refused.status_code == 403


def test_entries_over_http(
    client: TestClient, factory: sessionmaker[Session], keys: KeyRing, make_key: Any
) -> None:
    op = {"Authorization": f"Bearer {make_key(Role.OPERATOR)}"}
    auditor = {"Authorization": f"Bearer {make_key(Role.AUDITOR)}"}
    company = new_uscc()
    make_subject(factory, keys, "uscc", company)
    created = client.post(
        "/v1/list-entries",
        json={
            "subject": {"identifier": company},
            "list_type": "serious_dishonesty",
            "ground": "refuses_obligation",
            "authority": "国家发展和改革委员会",
            "reason": "decision 2026-17",
        },
        headers=op,
    )
    assert created.status_code == 201, created.text
    entry = created.json()
    assert entry["status"] == "active"
    assert entry["events"][0]["event"] == "created"
    entry_id = entry["id"]
    no_reason = client.post(
        f"/v1/list-entries/{entry_id}/end", json={"status": "repaired", "reason": ""}, headers=op
    )
    assert no_reason.status_code == 422
    extend = client.post(
        f"/v1/list-entries/{entry_id}/extend", json={"months": 12, "reason": "x"}, headers=op
    )
    assert extend.status_code == 400
    assert extend.json()["code"] == "invalid_list_entry"
    repaired = client.post(
        f"/v1/list-entries/{entry_id}/end",
        json={"status": "repaired", "reason": "credit repair approved"},
        headers=op,
    )
    assert repaired.status_code == 200
    assert repaired.json()["status"] == "repaired"
    again = client.post(
        f"/v1/list-entries/{entry_id}/end",
        json={"status": "removed", "reason": "twice"},
        headers=op,
    )
    assert again.status_code == 409
    listed = client.get("/v1/list-entries", params={"status": "repaired"}, headers=auditor).json()
    assert [e["id"] for e in listed] == [entry_id]
    assert client.post("/v1/list-entries", json={}, headers=auditor).status_code in (403, 422)
    definitions = client.get("/v1/list-definitions", headers=auditor).json()
    assert len(definitions["memoranda"]) >= 5


def test_the_embedded_worker_runs_the_list_job_once_a_day(
    factory: sessionmaker[Session], keys: KeyRing, by_court: Furnish
) -> None:
    from xinyong.events.tasks import Worker

    person = new_resident_id()
    by_court(listing(person, "L8", listed=TODAY - timedelta(days=800)))
    subject_id = make_subject(factory, keys, "resident_id", person)
    runs: list[date] = []

    def job(session: Session, day: date) -> object:
        runs.append(day)
        return service.run_maintenance(session, day)

    worker = Worker(factory, keys, daily_jobs=[job])
    worker.run_daily_jobs()
    worker.run_daily_jobs()  # the same day: not again
    assert len(runs) == 1
    [entry] = _entries(factory, subject_id)
    assert entry.status == "expired"

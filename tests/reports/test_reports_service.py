"""Credit reports: authorisation, point in time, retention, query records, digest, masking."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, sessionmaker

from reports.helpers import (
    CN,
    REFUSALS,
    US,
    Furnish,
    all_items,
    backdate,
    closed_account_row,
    content,
    days_ago,
    enterprise_row,
    issue,
    keys_of,
    make_subject,
    midday,
    new_consent,
    operator,
    person_row,
    prepare_refusal,
    querier,
    query_records,
    revoke,
    set_consent_period,
    social_insurance_fields,
    subject_id_of,
    subject_principal,
    tax_arrears_fields,
    years_before,
)
from support import (
    MakeInstitution,
    account_row,
    delete_row,
    new_resident_id,
    new_uscc,
    tax_grade_row,
)
from xinyong.audit.models import AccessEvent, AuditEntry
from xinyong.db import ImmutableRowError, transaction
from xinyong.errors import XinyongError
from xinyong.identity.crypto import KeyRing
from xinyong.identity.service import get_subject
from xinyong.institutions.models import Institution
from xinyong.reports.models import Consent, IssuedReport, QueryRecord
from xinyong.reports.schemas import Channel, Coverage, CreditReport, Digest, RequesterKind
from xinyong.reports.service import (
    QueryRequest,
    ReportNotFoundError,
    _file_followup,
    _standing,
    assemble_file,
    canonical_json,
    list_query_records,
    report_digest,
    request_report,
    seal_report,
    verify_report,
)

SOCIAL_TYPES = ["social_insurance_status"]


@pytest.fixture
def bank(make_institution: MakeInstitution) -> Institution:
    """Furnishes accounts and queries (an existing customer's lender)."""
    return make_institution(
        "bank-a",
        record_types=["credit_account"],
        purposes=["loan_approval", "credit_card_approval", "post_loan_management", "court_order"],
    )


@pytest.fixture
def lender(make_institution: MakeInstitution) -> Institution:
    """Queries only."""
    return make_institution(
        "lender-b", purposes=["loan_approval", "post_loan_management", "employment"]
    )


@pytest.fixture
def bureau(make_institution: MakeInstitution) -> Institution:
    """A tax office and social-insurance bureau rolled into one furnisher."""
    return make_institution(
        "bureau-c",
        record_types=["tax_arrears", "tax_credit_grade", "social_insurance_status"],
    )


@pytest.fixture
def by_bank(
    tmp_path: Path, factory: sessionmaker[Session], keys: KeyRing, bank: Institution
) -> Furnish:
    return Furnish(tmp_path, factory, keys, bank)


@pytest.fixture
def by_bureau(
    tmp_path: Path, factory: sessionmaker[Session], keys: KeyRing, bureau: Institution
) -> Furnish:
    return Furnish(tmp_path, factory, keys, bureau)


def refused(call: Any, code: str, status: int) -> XinyongError:
    with pytest.raises(XinyongError) as raised:
        call()
    assert (raised.value.code, raised.value.status) == (code, status), raised.value.detail
    return raised.value


def types_of(report: CreditReport) -> list[str]:
    return sorted(item.record_type for item in all_items(report))


def issued_count(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(IssuedReport)) or 0


# --- point in time ------------------------------------------------------------------------------


def test_a_report_as_of_a_past_day_is_reproducible(
    factory: sessionmaker[Session], keys: KeyRing, by_bank: Furnish
) -> None:
    person = new_resident_id()
    as_of = days_ago(30)
    by_bank(
        account_row(person, "LOAN-1", valid_from=days_ago(60).isoformat(), balance="12000.00"),
        account_row(person, "LOAN-2", valid_from=days_ago(60).isoformat()),
        # Reported before the as-of date, but valid only from a later day.
        account_row(person, "LOAN-3", valid_from=days_ago(20).isoformat()),
    )
    for key in ("LOAN-1", "LOAN-2", "LOAN-3"):
        backdate(factory, by_bank.record_id(key), midday(days_ago(40)))
    subject_id = subject_id_of(factory, keys, person)

    first = issue(factory, keys, operator(), subject_id, "subject_request", as_of=as_of)
    assert keys_of(first) == {"LOAN-1", "LOAN-2"}
    (loan,) = [item for item in first.credit_accounts if item.record_key == "LOAN-1"]
    assert (loan.version, loan.fields["balance"]) == (1, "12000.00")

    # A later correction and a later deletion do not change the report as of that day.
    by_bank(account_row(person, "LOAN-1", valid_from=days_ago(60).isoformat(), balance="9000.00"))
    by_bank(delete_row(person, "LOAN-2"))
    again = issue(factory, keys, operator(), subject_id, "subject_request", as_of=as_of)
    assert content(again) == content(first)
    assert again.summary == first.summary
    assert again.report_id != first.report_id

    today = issue(factory, keys, operator(), subject_id, "subject_request")
    assert keys_of(today) == {"LOAN-1", "LOAN-3"}
    (loan,) = [item for item in today.credit_accounts if item.record_key == "LOAN-1"]
    assert (loan.version, loan.fields["balance"]) == (2, "9000.00")
    assert today.as_of == CN.today()


def test_the_as_of_day_ends_at_midnight_in_the_profile_zone(
    factory: sessionmaker[Session], keys: KeyRing, by_bank: Furnish
) -> None:
    person = new_resident_id()
    as_of = days_ago(10)
    valid_from = days_ago(30).isoformat()
    by_bank(account_row(person, "IN", valid_from=valid_from))
    by_bank(account_row(person, "OUT", valid_from=valid_from))
    cutoff = CN.end_of_day(as_of)  # 16:00 UTC of the as-of day
    backdate(factory, by_bank.record_id("IN"), cutoff - timedelta(microseconds=1))
    backdate(factory, by_bank.record_id("OUT"), cutoff)
    subject_id = subject_id_of(factory, keys, person)
    with factory() as session:
        subject = get_subject(session, subject_id)
        cn_file = assemble_file(session, keys, CN, subject, as_of)
        us_file = assemble_file(session, keys, US, subject, as_of)
    assert cn_file.cutoff == cutoff
    assert [item.record.id for item in cn_file.items] == [by_bank.record_id("IN")]
    # Midnight in UTC comes eight hours later: both were received by then.
    assert len(us_file.items) == 2


def test_a_correction_valid_later_leaves_the_earlier_fact_in_place(
    factory: sessionmaker[Session], keys: KeyRing, by_bank: Furnish
) -> None:
    """A version received before the as-of day ends but valid only after it."""
    person = new_resident_id()
    by_bank(account_row(person, "LOAN", valid_from=days_ago(40).isoformat(), balance="500.00"))
    by_bank(account_row(person, "LOAN", valid_from=days_ago(3).isoformat(), balance="400.00"))
    record_id = by_bank.record_id("LOAN")
    backdate(factory, record_id, midday(days_ago(30)), version=1)
    backdate(factory, record_id, midday(days_ago(6)), version=2)
    subject_id = subject_id_of(factory, keys, person)
    report = issue(factory, keys, operator(), subject_id, "subject_request", as_of=days_ago(5))
    assert [(item.version, item.fields["balance"]) for item in report.credit_accounts] == [
        (1, "500.00")
    ]


# --- retention ----------------------------------------------------------------------------------


def test_retention_follows_the_profile(
    factory: sessionmaker[Session], keys: KeyRing, by_bank: Furnish, by_bureau: Furnish
) -> None:
    person = new_resident_id()
    today = CN.today()
    by_bureau(
        person_row(
            person,
            "tax_arrears",
            "PAID-6Y",
            **tax_arrears_fields(years_before(today, 8), years_before(today, 6)),
        ),
        person_row(
            person,
            "tax_arrears",
            "PAID-4Y",
            **tax_arrears_fields(years_before(today, 7), years_before(today, 4)),
        ),
        person_row(person, "tax_arrears", "UNPAID", **tax_arrears_fields(years_before(today, 12))),
    )
    by_bank(
        closed_account_row(person, "CLOSED-6Y", years_before(today, 6)),
        closed_account_row(person, "CLOSED-2Y", years_before(today, 2)),
        account_row(person, "OPEN", open_date=years_before(today, 15).isoformat()),
    )
    subject_id = subject_id_of(factory, keys, person)

    cn = issue(factory, keys, operator(), subject_id, "subject_request")
    assert keys_of(cn, "tax_arrears") == {"PAID-4Y", "UNPAID"}
    assert keys_of(cn, "credit_account") == {"CLOSED-2Y", "OPEN"}
    assert cn.summary.negative_items == 2
    assert [(c.record_type, c.total, c.negative) for c in cn.summary.public_records] == [
        ("tax_arrears", 2, 2)
    ]
    assert (cn.summary.accounts.total, cn.summary.accounts.closed) == (2, 1)

    us = issue(factory, keys, operator(), subject_id, "subject_request", profile=US)
    assert keys_of(us, "tax_arrears") == {"PAID-6Y", "PAID-4Y", "UNPAID"}
    assert keys_of(us, "credit_account") == {"CLOSED-6Y", "CLOSED-2Y", "OPEN"}
    assert us.profile.code == "us"

    # As of the day before the five years ran out, the item was still shown.
    backdate(factory, by_bureau.record_id("PAID-6Y", "tax_arrears"), midday(years_before(today, 8)))
    earlier = issue(
        factory,
        keys,
        operator(),
        subject_id,
        "subject_request",
        as_of=years_before(today, 1, days=1),
    )
    assert keys_of(earlier, "tax_arrears") == {"PAID-6Y"}


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_a_refusal_is_recorded(
    name: str,
    factory: sessionmaker[Session],
    keys: KeyRing,
    bank: Institution,
    make_institution: MakeInstitution,
) -> None:
    other = make_institution("other-d", purposes=["loan_approval"])
    case = prepare_refusal(name, factory, keys, bank, other, new_resident_id())
    principal = querier(bank) if case.who == "querier" else operator()
    error = refused(
        lambda: issue(
            factory,
            keys,
            principal,
            case.subject_id,
            case.purpose,
            as_of=case.as_of,
            consent_id=case.consent_id,
            reference=case.reference,
            operator_user="clerk-9",
        ),
        case.code,
        case.status,
    )
    assert error.detail
    (record,) = query_records(factory, case.subject_id)
    assert (record.outcome, record.refusal_code) == ("refused", case.code)
    assert (record.report_id, record.chargeable) == (None, False)
    assert record.purpose == case.purpose
    assert record.operator_user == "clerk-9"
    assert record.institution_id == principal.institution_id
    assert record.role == principal.role.value
    assert record.consent_id == case.cited_consent_id
    assert record.as_of == case.as_of
    assert issued_count(factory) == 0


def test_a_subject_sees_only_its_own_file(
    factory: sessionmaker[Session], keys: KeyRing, by_bank: Furnish
) -> None:
    person, other = new_resident_id(), new_resident_id()
    by_bank(account_row(person, "MINE"), account_row(other, "THEIRS"))
    me, them = subject_id_of(factory, keys, person), subject_id_of(factory, keys, other)
    refused(
        lambda: issue(factory, keys, subject_principal(me), them, "subject_request"),
        "not_your_file",
        403,
    )
    (record,) = query_records(factory, them)
    assert (record.outcome, record.refusal_code, record.role) == (
        "refused",
        "not_your_file",
        "subject",
    )
    # A subject may not use an institution's purposes either.
    refused(
        lambda: issue(factory, keys, subject_principal(me), me, "loan_approval"),
        "purpose_not_permitted",
        403,
    )
    assert issued_count(factory) == 0


def test_a_refusal_outlives_the_rolled_back_request(
    factory: sessionmaker[Session], keys: KeyRing, bank: Institution
) -> None:
    """The request's own writes are rolled back; the refusal record is committed."""
    subject_id = make_subject(factory, keys, "resident_id", new_resident_id())

    def attempt() -> None:
        with transaction(factory) as session:
            session.add(
                Consent(
                    subject_id=subject_id,
                    institution_id=bank.id,
                    purposes=["credit_card_approval"],
                    scope="report",
                    granted_at=datetime.now(UTC),
                    expires_at=datetime.now(UTC) + timedelta(days=1),
                    evidence_kind="document_hash",
                    evidence_sha256="cd" * 32,
                    recorded_by="institution",
                )
            )
            session.flush()
            request_report(
                session,
                factory,
                keys,
                querier(bank),
                CN,
                get_subject(session, subject_id),
                QueryRequest(purpose="loan_approval"),
                channel=Channel.API,
            )

    with pytest.raises(XinyongError):
        attempt()
    with factory() as session:
        assert session.scalars(select(Consent)).all() == []
    assert [r.refusal_code for r in query_records(factory, subject_id)] == ["consent_required"]


# --- consent and its exemptions -----------------------------------------------------------------


def test_a_valid_consent_allows_the_query(
    factory: sessionmaker[Session], keys: KeyRing, lender: Institution, by_bank: Furnish
) -> None:
    person = new_resident_id()
    by_bank(account_row(person, "LOAN-2024-000123"))
    subject_id = subject_id_of(factory, keys, person)
    consent_id = new_consent(factory, keys, lender, subject_id, ["loan_approval"])
    report = issue(
        factory, keys, querier(lender), subject_id, "loan_approval", operator_user="officer-7"
    )
    assert report.coverage is Coverage.FULL
    assert report.requester.consent_id == consent_id
    assert report.requester.kind is RequesterKind.INSTITUTION
    assert (report.requester.institution_code, report.requester.operator_user) == (
        "lender-b",
        "officer-7",
    )
    assert len(report.credit_accounts) == 1
    (record,) = query_records(factory, subject_id)
    assert record.id == report.requester.query_record_id
    assert (record.outcome, record.refusal_code, record.report_id) == (
        "served",
        None,
        report.report_id,
    )
    assert (record.institution_id, record.operator_user, record.purpose) == (
        lender.id,
        "officer-7",
        "loan_approval",
    )
    assert (record.consent_id, record.channel, record.role) == (consent_id, "api", "querier")
    assert (record.as_of, record.chargeable, record.product) == (CN.today(), False, "report")
    with factory() as session:
        (issued,) = session.scalars(select(IssuedReport)).all()
    assert (issued.report_id, issued.query_record_id, issued.digest) == (
        report.report_id,
        record.id,
        report.digest.value,
    )
    assert (issued.subject_id, issued.subject_kind, issued.coverage) == (
        subject_id,
        "person",
        "full",
    )
    assert (issued.profile, issued.profile_version) == ("cn", CN.version)


def consents_older_and_revoked(
    factory: sessionmaker[Session], keys: KeyRing, lender: Institution
) -> tuple[int, int, int]:
    """A person with two consents to ``lender``, the newer revoked: (subject, older, newer)."""
    subject_id = make_subject(factory, keys, "resident_id", new_resident_id())
    older = new_consent(factory, keys, lender, subject_id, ["loan_approval"])
    newer = new_consent(factory, keys, lender, subject_id, ["loan_approval", "employment"])
    revoke(factory, querier(lender), newer)
    return subject_id, older, newer


def test_the_newest_usable_consent_is_cited(
    factory: sessionmaker[Session], keys: KeyRing, lender: Institution
) -> None:
    subject_id, older, _ = consents_older_and_revoked(factory, keys, lender)
    # The score-only consent does not cover a report.
    score_only = new_consent(factory, keys, lender, subject_id, ["loan_approval"], scope="score")
    report = issue(factory, keys, querier(lender), subject_id, "loan_approval")
    assert report.requester.consent_id == older
    named = issue(factory, keys, querier(lender), subject_id, "loan_approval", consent_id=older)
    assert named.requester.consent_id == older
    refused(
        lambda: issue(
            factory, keys, querier(lender), subject_id, "loan_approval", consent_id=score_only
        ),
        "consent_does_not_cover",
        403,
    )
    # Employment: only the revoked consent covers it.
    refused(
        lambda: issue(factory, keys, querier(lender), subject_id, "employment"),
        "consent_revoked",
        403,
    )
    revoke(factory, querier(lender), older)
    refused(
        lambda: issue(factory, keys, querier(lender), subject_id, "loan_approval"),
        "consent_revoked",
        403,
    )


def test_the_standing_read_with_a_report_holds_each_consent_exactly(
    factory: sessionmaker[Session], keys: KeyRing, lender: Institution
) -> None:
    # A report reads the consents as JSON in the statement that also reads what follows the
    # file: the terms come back as stored, to the microsecond, in UTC, newest first.
    subject_id, older, newer = consents_older_and_revoked(factory, keys, lender)
    granted = midday(days_ago(3)).replace(microsecond=123456)
    set_consent_period(factory, older, granted, granted + timedelta(days=30, microseconds=7))
    with factory() as session:
        stored = {c.id: c for c in session.scalars(select(Consent))}
        standing = _standing(session, CN, lender.id, subject_id, report_as_of=CN.today())
        plain = _standing(session, CN, lender.id, subject_id)
        followup = _file_followup(session, CN, subject_id, CN.today())
        dialect = session.get_bind().dialect.name
    assert [terms.id for terms in standing.consents] == [newer, older]
    for terms in standing.consents:
        consent = stored[terms.id]
        assert (terms.purposes, terms.scope, terms.evidence_kind) == (
            consent.purposes,
            consent.scope,
            consent.evidence_kind,
        )
        assert (terms.granted_at, terms.expires_at, terms.revoked_at) == (
            consent.granted_at,
            consent.expires_at,
            consent.revoked_at,
        )
        assert terms.granted_at.tzinfo is UTC
    assert stored[older].granted_at.microsecond == 123456
    assert stored[newer].revoked_at is not None
    assert standing.consents == plain.consents
    assert plain.followup is None
    # What follows the file is the same as read on its own, but for the id it reserves: on
    # PostgreSQL each read draws the next from the sequence.
    assert standing.followup is not None
    assert standing.followup.presence == followup.presence
    assert standing.followup.checkpoint == followup.checkpoint
    assert standing.followup.history == followup.history
    step = 1 if dialect == "postgresql" else 0
    assert followup.query_record_id == standing.followup.query_record_id + step


def test_an_institutions_report_reads_the_subject_in_two_statements_and_its_file_in_one(
    factory: sessionmaker[Session], keys: KeyRing, lender: Institution, by_bank: Furnish
) -> None:
    person = new_resident_id()
    by_bank(account_row(person, "LOAN-2024-000124"))
    subject_id = subject_id_of(factory, keys, person)
    new_consent(factory, keys, lender, subject_id, ["loan_approval"])
    issue(factory, keys, querier(lender), subject_id, "loan_approval")  # a first checkpoint
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement.split(None, 1)[0].upper())

    engine = factory.kw["bind"]
    event.listen(engine, "before_cursor_execute", count)
    try:
        report = issue(factory, keys, querier(lender), subject_id, "loan_approval")
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(report.credit_accounts) == 1
    # The subject; the institution's standing with everything read about the subject
    # besides its file; the file. (The proofs' subtree hashes of this small tree are all
    # kept in memory for the checkpoint, so no statement reads them.) Then the writes: one
    # statement on PostgreSQL, two inserts on SQLite, whose transaction begins with the
    # write lock.
    if engine.dialect.name == "postgresql":
        assert statements == ["SELECT", "SELECT", "SELECT", "WITH"]
    else:
        assert statements == ["BEGIN", "SELECT", "SELECT", "SELECT", "INSERT", "INSERT"]


def test_a_consent_with_evidence_the_purpose_does_not_accept(
    factory: sessionmaker[Session], keys: KeyRing, lender: Institution
) -> None:
    """A consent recorded before the profile asked for written evidence does not count."""
    subject_id = make_subject(factory, keys, "resident_id", new_resident_id())
    with transaction(factory) as session:
        consent = Consent(
            subject_id=subject_id,
            institution_id=lender.id,
            purposes=["employment"],
            scope="both",
            granted_at=datetime.now(UTC) - timedelta(days=1),
            expires_at=datetime.now(UTC) + timedelta(days=30),
            evidence_kind="signed_statement",
            evidence_sha256="ef" * 32,
            recorded_by="institution",
        )
        session.add(consent)
    error = refused(
        lambda: issue(factory, keys, querier(lender), subject_id, "employment"),
        "consent_does_not_cover",
        403,
    )
    assert "document_hash or subject_portal" in error.detail


def test_an_existing_customer_needs_no_consent_for_post_loan_management(
    factory: sessionmaker[Session],
    keys: KeyRing,
    bank: Institution,
    lender: Institution,
    by_bank: Furnish,
) -> None:
    person = new_resident_id()
    by_bank(account_row(person))
    subject_id = subject_id_of(factory, keys, person)
    report = issue(factory, keys, querier(bank), subject_id, "post_loan_management")
    assert report.requester.consent_id is None
    assert report.coverage is Coverage.FULL
    # Not for another purpose, and not for an institution without an account of its own.
    refused(
        lambda: issue(factory, keys, querier(bank), subject_id, "loan_approval"),
        "consent_required",
        403,
    )
    refused(
        lambda: issue(factory, keys, querier(lender), subject_id, "post_loan_management"),
        "consent_required",
        403,
    )
    served = [r for r in query_records(factory, subject_id) if r.outcome == "served"]
    assert [(r.institution_id, r.purpose, r.consent_id) for r in served] == [
        (bank.id, "post_loan_management", None)
    ]


def test_a_deleted_account_does_not_make_an_existing_customer(
    factory: sessionmaker[Session], keys: KeyRing, by_bank: Furnish, bank: Institution
) -> None:
    person = new_resident_id()
    by_bank(account_row(person))
    by_bank(delete_row(person, reason="opened by identity fraud"))
    subject_id = subject_id_of(factory, keys, person)
    refused(
        lambda: issue(factory, keys, querier(bank), subject_id, "post_loan_management"),
        "consent_required",
        403,
    )


def test_a_closed_account_does_not_make_an_existing_customer(
    factory: sessionmaker[Session], keys: KeyRing, by_bank: Furnish, bank: Institution
) -> None:
    person = new_resident_id()
    by_bank(account_row(person, status="closed", close_date="2026-09-30", balance="0.00"))
    subject_id = subject_id_of(factory, keys, person)
    refused(
        lambda: issue(factory, keys, querier(bank), subject_id, "post_loan_management"),
        "consent_required",
        403,
    )


def test_us_profile_needs_no_consent_for_a_loan(
    factory: sessionmaker[Session], keys: KeyRing, lender: Institution, by_bank: Furnish
) -> None:
    person = new_resident_id()
    by_bank(account_row(person))
    subject_id = subject_id_of(factory, keys, person)
    report = issue(factory, keys, querier(lender), subject_id, "loan_approval", profile=US)
    assert (report.profile.code, report.requester.consent_id) == ("us", None)
    assert len(report.credit_accounts) == 1
    refused(
        lambda: issue(factory, keys, querier(lender), subject_id, "employment", profile=US),
        "consent_required",
        403,
    )


def test_court_order_with_a_reference(
    factory: sessionmaker[Session], keys: KeyRing, bank: Institution
) -> None:
    subject_id = make_subject(factory, keys, "resident_id", new_resident_id())
    report = issue(
        factory, keys, querier(bank), subject_id, "court_order", reference="(2026)京0105执123号"
    )
    assert report.requester.reference == "(2026)京0105执123号"
    (record,) = query_records(factory, subject_id)
    assert (record.reference, record.consent_id) == ("(2026)京0105执123号", None)


# --- enterprises --------------------------------------------------------------------------------


def test_an_enterprise_without_consent_gets_public_information_only(
    factory: sessionmaker[Session],
    keys: KeyRing,
    lender: Institution,
    by_bank: Furnish,
    by_bureau: Furnish,
) -> None:
    uscc = new_uscc()
    by_bureau(
        tax_grade_row(uscc, "GRADE-2025"),
        enterprise_row(uscc, "tax_arrears", "ARREARS", **tax_arrears_fields(days_ago(100))),
        enterprise_row(uscc, "social_insurance_status", "SI", **social_insurance_fields()),
    )
    by_bank(account_row(uscc, "CORP-LOAN", subject_id_type="uscc", subject_name="某某有限公司"))
    subject_id = subject_id_of(factory, keys, uscc, "uscc")

    public = issue(factory, keys, querier(lender), subject_id, "loan_approval")
    assert public.coverage is Coverage.PUBLIC_ONLY
    assert public.credit_accounts == []
    assert types_of(public) == ["tax_credit_grade"]
    assert public.summary.accounts.total == 0
    assert public.requester.consent_id is None
    with factory() as session:
        (issued,) = session.scalars(select(IssuedReport)).all()
    assert issued.coverage == "public_only"
    assert issued.subject_kind == "enterprise"

    consent_id = new_consent(factory, keys, lender, subject_id, ["loan_approval"])
    full = issue(factory, keys, querier(lender), subject_id, "loan_approval")
    assert full.coverage is Coverage.FULL
    assert full.requester.consent_id == consent_id
    assert types_of(full) == [
        "credit_account",
        "social_insurance_status",
        "tax_arrears",
        "tax_credit_grade",
    ]

    # A revoked consent named explicitly is refused rather than quietly narrowed.
    revoke(factory, querier(lender), consent_id)
    refused(
        lambda: issue(
            factory, keys, querier(lender), subject_id, "loan_approval", consent_id=consent_id
        ),
        "consent_revoked",
        403,
    )
    again = issue(factory, keys, querier(lender), subject_id, "loan_approval")
    assert again.coverage is Coverage.PUBLIC_ONLY


def test_a_consent_not_yet_started_is_no_consent_for_an_enterprise(
    factory: sessionmaker[Session], keys: KeyRing, lender: Institution
) -> None:
    subject_id = make_subject(factory, keys, "uscc", new_uscc())
    consent_id = new_consent(factory, keys, lender, subject_id, ["loan_approval"])
    now = datetime.now(UTC)
    set_consent_period(factory, consent_id, now + timedelta(days=3), now + timedelta(days=30))
    report = issue(factory, keys, querier(lender), subject_id, "loan_approval")
    assert (report.coverage, report.requester.consent_id) == (Coverage.PUBLIC_ONLY, None)
    # Named explicitly, it is refused with the reason.
    refused(
        lambda: issue(
            factory, keys, querier(lender), subject_id, "loan_approval", consent_id=consent_id
        ),
        "consent_not_yet_valid",
        403,
    )


# --- query records ------------------------------------------------------------------------------


def test_query_records_appear_in_the_subjects_next_report(
    factory: sessionmaker[Session],
    keys: KeyRing,
    bank: Institution,
    lender: Institution,
    by_bank: Furnish,
) -> None:
    person = new_resident_id()
    by_bank(account_row(person))
    subject_id = subject_id_of(factory, keys, person)
    new_consent(factory, keys, lender, subject_id, ["loan_approval"])
    issue(factory, keys, querier(lender), subject_id, "loan_approval")
    issue(factory, keys, querier(bank), subject_id, "post_loan_management")
    refused(
        lambda: issue(factory, keys, querier(lender), subject_id, "employment"),
        "consent_required",
        403,
    )
    own = issue(factory, keys, subject_principal(subject_id), subject_id, "subject_request")
    # Refusals and the current query are not listed; newest first.
    assert [(q.institution_code, q.purpose, q.requester_kind) for q in own.query_records] == [
        ("bank-a", "post_loan_management", RequesterKind.INSTITUTION),
        ("lender-b", "loan_approval", RequesterKind.INSTITUTION),
    ]
    assert own.summary.queries.institution_queries_12_months == {
        "loan_approval": 1,
        "post_loan_management": 1,
    }
    assert own.summary.queries.subject_queries_12_months == 0
    assert own.requester.kind is RequesterKind.SUBJECT

    after = issue(factory, keys, operator(), subject_id, "subject_request")
    assert [q.requester_kind for q in after.query_records] == [
        RequesterKind.SUBJECT,
        RequesterKind.INSTITUTION,
        RequesterKind.INSTITUTION,
    ]
    assert after.summary.queries.subject_queries_12_months == 1
    # A report as of yesterday lists none of today's queries.
    yesterday = issue(factory, keys, operator(), subject_id, "subject_request", as_of=days_ago(1))
    assert yesterday.query_records == []

    with factory() as session:
        mine = list_query_records(session, institution_id=lender.id)
        everything = list_query_records(session, subject_id=subject_id)
        refusals = list_query_records(session, outcome="refused")
        page = list_query_records(session, subject_id=subject_id, offset=1, limit=2)
    assert [(r.purpose, r.outcome) for r in mine] == [
        ("employment", "refused"),
        ("loan_approval", "served"),
    ]
    assert all(r.institution_code == "lender-b" for r in mine)
    assert len(everything) == 6
    assert [r.refusal_code for r in refusals] == ["consent_required"]
    assert [r.id for r in page] == [r.id for r in everything[1:3]]


def test_old_query_records_leave_the_report(
    factory: sessionmaker[Session], keys: KeyRing, lender: Institution
) -> None:
    subject_id = make_subject(factory, keys, "resident_id", new_resident_id())
    now = datetime.now(UTC)
    with transaction(factory) as session:
        for days in (30, 400, 800):
            session.add(
                QueryRecord(
                    occurred_at=now - timedelta(days=days),
                    product="report",
                    channel="api",
                    role="querier",
                    institution_id=lender.id,
                    subject_id=subject_id,
                    purpose="loan_approval",
                    outcome="served",
                    report_id=f"R-OLD-{days}",
                )
            )
    report = issue(factory, keys, operator(), subject_id, "subject_request")
    # Two years of queries in the report, newest first, to the microsecond; one year in
    # the summary.
    assert [entry.occurred_at for entry in report.query_records] == [
        now - timedelta(days=30),
        now - timedelta(days=400),
    ]
    assert all(entry.occurred_at.tzinfo is UTC for entry in report.query_records)
    assert {entry.institution_code for entry in report.query_records} == {"lender-b"}
    assert report.summary.queries.institution_queries_12_months == {"loan_approval": 1}


# --- digest -------------------------------------------------------------------------------------


def canonical_sha256(document: dict[str, Any]) -> str:
    """The digest as an outside verifier computes it (docs/reports.md)."""
    body = {key: value for key, value in document.items() if key != "digest"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_the_digest_covers_the_report_and_can_be_verified(
    factory: sessionmaker[Session], keys: KeyRing, bank: Institution, by_bank: Furnish
) -> None:
    person = new_resident_id()
    by_bank(account_row(person, subject_name="张三丰"))
    subject_id = subject_id_of(factory, keys, person)
    report = issue(factory, keys, subject_principal(subject_id), subject_id, "subject_request")
    document = json.loads(report.model_dump_json())
    assert report.digest.algorithm == "sha256"
    assert canonical_sha256(document) == report.digest.value == report_digest(report)
    assert report_digest(document) == report.digest.value

    changed = json.loads(report.model_dump_json())
    changed["credit_accounts"][0]["fields"]["balance"] = "1.00"
    assert canonical_sha256(changed) != report.digest.value
    reparsed = CreditReport.model_validate(document)
    assert report_digest(reparsed) == report.digest.value

    # Sealing computes the digest and the canonical JSON of the whole report in one pass.
    issued = report.digest.value
    report.digest = Digest(value="0" * 64)
    sealed = seal_report(report)
    assert report.digest.value == issued
    assert sealed == canonical_json(json.loads(report.model_dump_json()))
    assert canonical_sha256(json.loads(sealed)) == issued

    with factory() as session:
        valid = verify_report(session, report.report_id, report.digest.value.upper())
        invalid = verify_report(session, report.report_id, canonical_sha256(changed))
        with pytest.raises(ReportNotFoundError) as missing:
            verify_report(session, "R20260101DEADBEEF", report.digest.value)
    assert missing.value.status == 404
    assert (valid.valid, invalid.valid) == (True, False)
    assert (valid.as_of, valid.subject_kind, valid.coverage) == (
        report.as_of,
        "person",
        Coverage.FULL,
    )
    assert valid.profile is not None
    assert valid.profile.code == "cn"
    answer = valid.model_dump_json()
    assert set(json.loads(answer)) == {
        "report_id",
        "valid",
        "generated_at",
        "as_of",
        "profile",
        "subject_kind",
        "coverage",
    }
    for personal in (person, "张三丰", "LOAN", "bank-a"):
        assert personal not in answer


# --- masking ------------------------------------------------------------------------------------


def test_what_each_reader_sees(
    tmp_path: Path,
    factory: sessionmaker[Session],
    keys: KeyRing,
    bank: Institution,
    by_bank: Furnish,
    by_bureau: Furnish,
    make_institution: MakeInstitution,
) -> None:
    person = new_resident_id()
    by_bank(account_row(person, "LOAN-2024-000123"))
    Furnish(tmp_path, factory, keys, make_institution("card-e", record_types=["credit_account"]))(
        account_row(person, "CARD-2023-999888", account_type="credit_card")
    )
    by_bureau(
        person_row(person, "social_insurance_status", "SI-778899", **social_insurance_fields())
    )
    subject_id = subject_id_of(factory, keys, person)
    masked_identifier = person[:4] + "*" * 10 + person[-4:]

    def keys_and_fields(report: CreditReport) -> dict[str, dict[str, Any]]:
        return {item.record_key: item.fields for item in all_items(report)}

    institution = issue(factory, keys, querier(bank), subject_id, "post_loan_management")
    assert (institution.subject.identifier, institution.subject.identifier_masked) == (
        masked_identifier,
        True,
    )
    seen = keys_and_fields(institution)
    assert "LOAN-2024-000123" in seen  # furnished by the reader itself
    assert "CARD-2023-999888" not in seen
    assert "SI-778899" not in seen
    assert len(seen) == 3
    hidden_si = next(fields for key, fields in seen.items() if key.endswith("8899"))
    assert "contribution_base" not in hidden_si  # 征信业管理条例 Art. 14
    assert hidden_si["status"] == "paying"
    masked_keys = sorted(key for key in seen if key != "LOAN-2024-000123")
    assert all("*" in key and "2023-999" not in key and "-7788" not in key for key in masked_keys)

    own = issue(factory, keys, subject_principal(subject_id), subject_id, "subject_request")
    assert (own.subject.identifier, own.subject.identifier_masked) == (person, False)
    assert keys_and_fields(own)["SI-778899"]["contribution_base"] == "18000.00"
    assert set(keys_and_fields(own)) == {"LOAN-2024-000123", "CARD-2023-999888", "SI-778899"}

    staff = issue(factory, keys, operator("ops-2"), subject_id, "subject_request")
    assert (staff.subject.identifier, staff.subject.identifier_masked) == (masked_identifier, True)
    assert keys_and_fields(staff)["SI-778899"]["contribution_base"] == "18000.00"
    revealed = issue(
        factory,
        keys,
        operator("ops-2"),
        subject_id,
        "subject_request",
        reveal=True,
        reference="counter request 17",
    )
    assert (revealed.subject.identifier, revealed.subject.identifier_masked) == (person, False)
    with factory() as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert [(e.action, e.target_type, e.target_id, e.actor) for e in entries] == [
        ("report.issue", "subject", str(subject_id), "ops-2"),
        ("report.issue", "subject", str(subject_id), "ops-2"),
        ("subject.identifier.reveal", "subject", str(subject_id), "ops-2"),
    ]
    assert entries[1].details == {"purpose": "subject_request", "report_id": revealed.report_id}
    assert entries[2].reason == "counter request 17"
    for entry in entries:
        assert person not in json.dumps(entry.details)

    # Only operators may reveal: nothing is served, and the refusal is recorded.
    before = len(query_records(factory, subject_id))
    refused(
        lambda: issue(
            factory, keys, querier(bank), subject_id, "post_loan_management", reveal=True
        ),
        "reveal_not_permitted",
        403,
    )
    after = query_records(factory, subject_id)
    assert len(after) == before + 1
    assert (after[-1].outcome, after[-1].refusal_code) == ("refused", "reveal_not_permitted")


# --- free reports -------------------------------------------------------------------------------


def test_the_third_own_report_of_the_year_is_chargeable_in_cn(
    factory: sessionmaker[Session], keys: KeyRing, lender: Institution
) -> None:
    subject_id = make_subject(factory, keys, "resident_id", new_resident_id())
    me = subject_principal(subject_id)
    new_consent(factory, keys, lender, subject_id, ["loan_approval"])
    flags = [
        issue(factory, keys, me, subject_id, "subject_request").chargeable,
        # Institutions' queries never count, nor are they charged to the subject.
        issue(factory, keys, querier(lender), subject_id, "loan_approval").chargeable,
        # The operator's counter serves the subject's own request: it counts.
        issue(factory, keys, operator(), subject_id, "subject_request").chargeable,
        issue(factory, keys, me, subject_id, "subject_request").chargeable,
        issue(factory, keys, me, subject_id, "subject_request").chargeable,
    ]
    assert flags == [False, False, False, True, True]
    served = [r.chargeable for r in query_records(factory, subject_id)]
    assert served == flags


def _own_queries(factory: sessionmaker[Session], subject_id: int, *moments: datetime) -> None:
    with transaction(factory) as session:
        for moment in moments:
            session.add(
                QueryRecord(
                    occurred_at=moment,
                    product="report",
                    channel="portal",
                    role="subject",
                    subject_id=subject_id,
                    purpose="subject_request",
                    outcome="served",
                )
            )


def test_last_years_reports_do_not_count_in_cn(
    factory: sessionmaker[Session], keys: KeyRing
) -> None:
    subject_id = make_subject(factory, keys, "resident_id", new_resident_id())
    new_year = datetime(CN.today().year, 1, 1, tzinfo=CN.zone)
    _own_queries(factory, subject_id, new_year - timedelta(hours=1), new_year - timedelta(days=9))
    me = subject_principal(subject_id)
    assert issue(factory, keys, me, subject_id, "subject_request").chargeable is False
    _own_queries(factory, subject_id, new_year)
    assert issue(factory, keys, me, subject_id, "subject_request").chargeable is True


def test_us_allows_one_free_report_in_twelve_months(
    factory: sessionmaker[Session], keys: KeyRing
) -> None:
    subject_id = make_subject(factory, keys, "resident_id", new_resident_id())
    me = subject_principal(subject_id)
    now = datetime.now(UTC)
    _own_queries(factory, subject_id, now - timedelta(days=400))
    assert issue(factory, keys, me, subject_id, "subject_request", profile=US).chargeable is False
    assert issue(factory, keys, me, subject_id, "subject_request", profile=US).chargeable is True


def test_an_enterprise_is_never_charged(factory: sessionmaker[Session], keys: KeyRing) -> None:
    subject_id = make_subject(factory, keys, "uscc", new_uscc())
    flags = {
        issue(factory, keys, operator(), subject_id, "subject_request").chargeable for _ in range(3)
    }
    assert flags == {False}


# --- append-only evidence -----------------------------------------------------------------------


def test_evidence_rows_cannot_be_changed_or_deleted(
    factory: sessionmaker[Session], keys: KeyRing
) -> None:
    subject_id = make_subject(factory, keys, "resident_id", new_resident_id())
    report = issue(factory, keys, operator(), subject_id, "subject_request")
    with transaction(factory) as session:
        session.add(AccessEvent(action="report.read", role="operator", subject_id=subject_id))
    changes: list[tuple[type[Any], Any]] = [
        (QueryRecord, lambda row: setattr(row, "outcome", "refused")),
        (IssuedReport, lambda row: setattr(row, "digest", "0" * 64)),
        (AuditEntry, lambda row: setattr(row, "reason", "nothing happened")),
        (AccessEvent, lambda row: setattr(row, "details", {"rows": 0})),
    ]
    for model, change in changes:
        with factory() as session:
            row = session.scalars(select(model)).first()
            assert row is not None
            change(row)
            with pytest.raises(ImmutableRowError, match="cannot be changed"):
                session.flush()
            session.rollback()
        with factory() as session:
            row = session.scalars(select(model)).first()
            session.delete(row)
            with pytest.raises(ImmutableRowError, match="cannot be deleted"):
                session.flush()
            session.rollback()
    with factory() as session:
        assert verify_report(session, report.report_id, report.digest.value).valid
        assert session.scalar(select(func.count()).select_from(QueryRecord)) == 1


def test_appending_is_allowed(session: Session) -> None:
    """Adding a row, and loading one without changing it, flush fine."""
    session.add(
        AuditEntry(
            action="report.issue", role="operator", actor="t", target_type="subject", target_id="1"
        )
    )
    session.flush()
    row = session.scalars(select(AuditEntry)).one()
    row.reason = None  # the same value: not a modification
    session.flush()
    assert row.id is not None

"""Credit repair (信用修复, RULES.md 12-13): conditions, decisions, appeal, effects, deadlines."""

from __future__ import annotations

import json
import warnings
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from dispute_support import PDF, Person, problem
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from test_dispute_deadlines import xinyong  # noqa: F401 (the CLI fixture)

from reports.helpers import (
    Furnish,
    all_items,
    enterprise_row,
    issue,
    make_subject,
    new_consent,
    operator,
    querier,
    subject_principal,
)
from support import auth, new_uscc
from xinyong.audit.models import AuditEntry
from xinyong.db import transaction, utcnow
from xinyong.events.models import OutboxEvent
from xinyong.identity.crypto import KeyRing
from xinyong.identity.models import Subject
from xinyong.institutions.models import Institution
from xinyong.institutions.schemas import LOCAL_OPERATOR
from xinyong.lists import service as lists_service
from xinyong.lists.models import ListEntry
from xinyong.lists.schemas import EntryCreate
from xinyong.reports.profiles import get_profile
from xinyong.reports.schemas import SubjectSelector
from xinyong.rights import repair
from xinyong.rights.calendar import load_calendar, parse_calendar_csv
from xinyong.rights.models import RepairEvent
from xinyong.rights.presence import rights_presence
from xinyong.scoring.features import FEATURE_SET, feature_names
from xinyong.scoring.models import SubjectScore
from xinyong.scoring.registry import approve as approve_model
from xinyong.scoring.registry import promote, register_model
from xinyong.scoring.scorecard import WoeScorecard
from xinyong.scoring.validation import validate_model

CN = get_profile("cn")
US = get_profile("us")
TODAY = utcnow().date()
REGULATOR = "北京市朝阳区市场监督管理局"
CN_2026 = (Path(__file__).parents[2] / "docs" / "calendars" / "cn-2026.csv").read_bytes()
COMMITMENT = "本企业承诺依法诚信经营，如有违反，愿承担相应责任。"


def at(day: date) -> datetime:
    """10:00 in Shanghai on ``day``."""
    return datetime.combine(day, time(2), UTC)


def months_ago(months: int, days: int = 0) -> date:
    return lists_service.add_months(TODAY, -months) - timedelta(days=days)


@pytest.fixture
def regulator(make_institution: Any) -> Institution:
    return make_institution(
        "regulator-r", record_types=["administrative_penalty", "dishonest_debtor_listing"]
    )


@pytest.fixture
def furnish(
    tmp_path: Path, factory: sessionmaker[Session], keys: KeyRing, regulator: Institution
) -> Furnish:
    return Furnish(tmp_path, factory, keys, regulator)


def penalty(uscc: str, key: str, decided: date, severity: str = "general") -> dict[str, Any]:
    return {
        **enterprise_row(
            uscc,
            "administrative_penalty",
            key,
            valid_from=decided.isoformat(),
            decision_number=f"京朝市监罚〔2026〕{key}号",
            violation_type="虚假宣传",
            penalty_type="fine",
            fine_amount="5000.00",
            severity=severity,
            authority=REGULATOR,
            decision_date=decided.isoformat(),
        ),
        "subject_name": "北京星河数据服务有限公司",
    }


def make_entry(
    factory: sessionmaker[Session], subject_id: int, list_type: str, ground: str, start: date
) -> int:
    with transaction(factory) as session:
        subject = session.get(Subject, subject_id)
        assert subject is not None
        return lists_service.create_entry(
            session,
            operator(),
            subject,
            EntryCreate(
                subject=SubjectSelector(subject_id=subject_id),
                list_type=list_type,
                ground=ground,
                authority=REGULATOR,
                reference=f"R-{list_type}",
                start_date=start,
                reason="decision of the authority",
            ),
        ).id


def application(kind: str, target_id: int, **more: Any) -> repair.RepairApplication:
    body: dict[str, Any] = {
        "target_kind": kind,
        "target_id": target_id,
        "evidence": ["罚款已于2026-03-01缴纳，缴款书编号 0012345"],
        "commitment": COMMITMENT,
        "commitment_signed": True,
        **more,
    }
    return repair.RepairApplication.model_validate(body)


def apply(
    factory: sessionmaker[Session],
    keys: KeyRing,
    subject_id: int,
    body: repair.RepairApplication,
    now: datetime | None = None,
) -> repair.RepairView:
    with transaction(factory) as session:
        case = repair.apply_for_repair(session, keys, CN, operator(), subject_id, body, now=now)
        return repair.view_case(session, keys, operator(), case)


def add_file(
    factory: sessionmaker[Session], keys: KeyRing, case_id: int, content: bytes = PDF
) -> repair.RepairView:
    """Upload an evidence file as an operator; the case after it."""
    with transaction(factory) as session:
        repair.add_evidence(
            session,
            keys,
            operator(),
            case_id,
            content=content,
            content_type="application/pdf",
            filename="缴款书.pdf",
        )
    with factory() as session:
        return repair.view_case(session, keys, operator(), repair.get_case(session, case_id))


def conditions(view: repair.RepairView) -> dict[str, repair.Condition]:
    return {condition.code: condition for condition in view.conditions}


def approve(factory: sessionmaker[Session], keys: KeyRing, case_id: int) -> repair.RepairView:
    with transaction(factory) as session:
        repair.acknowledge(session, operator(), case_id)
    with transaction(factory) as session:
        case = repair.decide(
            session,
            keys,
            operator(),
            case_id,
            repair.RepairDecision(decision="approved", reason="obligations performed, verified"),
        )
        return repair.view_case(session, keys, operator(), case)


# --- the rules as data --------------------------------------------------------------------------


def test_repair_rules_are_profile_data_with_sources() -> None:
    rules = CN.repair_rules(date(2026, 4, 1))
    assert rules is not None
    assert (rules.acknowledgement.days, rules.acknowledgement.day_type) == (10, "working")
    assert (rules.decision.days, rules.decision.day_type) == (3, "working")
    assert rules.acknowledgement.source
    assert rules.decision.source
    assert rules.conditions_source
    assert rules.repairable_list_types == (
        "serious_dishonesty",
        "abnormal_operations",
        "serious_violation",
    )
    assert rules.court_list_types == ("court_dishonest_debtors",)
    assert rules.appeals == 1
    assert rules.free
    assert CN.repair_rules(date(2026, 3, 31)) is None
    assert US.repair_rules(TODAY) is None


# --- conditions ---------------------------------------------------------------------------------


def test_conditions_met_and_missing_with_dates(
    factory: sessionmaker[Session], keys: KeyRing, furnish: Furnish
) -> None:
    company = new_uscc()
    recent = months_ago(1)
    furnish(
        penalty(company, "P-old", months_ago(5)),
        penalty(company, "P-new", recent),
        penalty(company, "P-serious", months_ago(6), severity="serious"),
    )
    subject_id = make_subject(factory, keys, "uscc", company)
    old = furnish.record_id("P-old", "administrative_penalty")
    new = furnish.record_id("P-new", "administrative_penalty")
    serious = furnish.record_id("P-serious", "administrative_penalty")

    # The old general penalty: its 3-month minimum has passed, but a penalty came after it.
    view = apply(factory, keys, subject_id, application("penalty", old))
    found = conditions(view)
    assert found["minimum_publicity_passed"].met
    assert found["minimum_publicity_passed"].passes_on == lists_service.add_months(months_ago(5), 3)
    assert not found["no_new_violations"].met
    assert found["no_new_violations"].ids == [new]
    # Text references alone are no evidence: the files are (uploaded once the case exists).
    assert not found["obligations_performed"].met
    assert "no evidence file" in found["obligations_performed"].detail
    assert found["credit_commitment"].met
    assert view.missing == ["obligations_performed", "no_new_violations"]
    assert (view.status, view.filed_by) == ("submitted", "operator")
    view = add_file(factory, keys, view.id)
    assert conditions(view)["obligations_performed"].met
    assert view.missing == ["no_new_violations"]

    # The newest penalty: nothing came after it, but its minimum has not passed; no evidence
    # and no signature.
    view = apply(
        factory,
        keys,
        subject_id,
        application("penalty", new, evidence=[], commitment_signed=False),
    )
    found = conditions(view)
    assert found["minimum_publicity_passed"].passes_on == lists_service.add_months(recent, 3)
    assert view.missing == [
        "minimum_publicity_passed",
        "obligations_performed",
        "credit_commitment",
    ]
    # A serious penalty's minimum is a year.
    view = apply(factory, keys, subject_id, application("penalty", serious))
    assert conditions(view)["minimum_publicity_passed"].passes_on == lists_service.add_months(
        months_ago(6), 12
    )
    # One open application per item.
    with transaction(factory) as session, pytest.raises(repair.RepairAlreadyOpenError):
        repair.apply_for_repair(
            session, keys, CN, operator(), subject_id, application("penalty", old)
        )
    # An application with a condition missing cannot be approved.
    with transaction(factory) as session:
        repair.acknowledge(session, operator(), view.id)
    with transaction(factory) as session, pytest.raises(repair.RepairConditionsNotMetError):
        repair.decide(
            session,
            keys,
            operator(),
            view.id,
            repair.RepairDecision(decision="approved", reason="ok"),
        )


def test_court_list_entries_and_other_lists_are_refused(
    factory: sessionmaker[Session], keys: KeyRing, furnish: Furnish
) -> None:
    company = new_uscc()
    listed = months_ago(2)
    furnish(
        enterprise_row(
            company,
            "dishonest_debtor_listing",
            "C-1",
            valid_from=listed.isoformat(),
            case_number="(2026)京0105执C-1号",
            court="北京市朝阳区人民法院",
            ground="evades_enforcement",
            obligation="支付货款及利息",
            performance="not_performed",
            listing_date=listed.isoformat(),
        )
    )
    subject_id = make_subject(factory, keys, "uscc", company)
    with factory() as session:
        court = session.scalars(
            select(ListEntry.id).where(
                ListEntry.subject_id == subject_id,
                ListEntry.list_type == "court_dishonest_debtors",
            )
        ).one()
    with (
        transaction(factory) as session,
        pytest.raises(repair.NotRepairableError, match="removed by the court"),
    ):
        repair.apply_for_repair(
            session, keys, CN, operator(), subject_id, application("list_entry", court)
        )
    with transaction(factory) as session, pytest.raises(repair.RepairNotApplicableError):
        repair.apply_for_repair(
            session, keys, US, operator(), subject_id, application("list_entry", court)
        )
    # A subject may not apply for someone else's item.
    with transaction(factory) as session, pytest.raises(repair.RepairTargetNotFoundError):
        repair.apply_for_repair(
            session,
            keys,
            CN,
            subject_principal(subject_id + 10_000),
            subject_id + 10_000,
            application("list_entry", court),
        )


# --- approval -----------------------------------------------------------------------------------


def test_approving_a_penalty_stops_publicity_and_sharing(
    tmp_path: Path,
    client: TestClient,
    factory: sessionmaker[Session],
    keys: KeyRing,
    furnish: Furnish,
    make_institution: Any,
) -> None:
    company = new_uscc()
    furnish(penalty(company, "P-1", months_ago(5)))
    subject_id = make_subject(factory, keys, "uscc", company)
    record_id = furnish.record_id("P-1", "administrative_penalty")
    lender = make_institution("lender-r", purposes=["loan_approval"])
    consent_id = new_consent(factory, keys, lender, subject_id, ["loan_approval"])

    def shared() -> set[int]:
        report = issue(
            factory, keys, querier(lender), subject_id, "loan_approval", consent_id=consent_id
        )
        return {item.record_id for item in all_items(report)}

    def public() -> list[str]:
        profile = client.get(f"/v1/public/enterprises/{company}").json()
        return [item["decision_number"] for item in profile["penalties"]]

    assert record_id in shared()
    assert public() == ["京朝市监罚〔2026〕P-1号"]

    def penalty_features(tmp: str) -> tuple[float | None, float | None]:
        """The penalty count online and in a batch snapshot, today."""
        from xinyong.identity.models import Subject
        from xinyong.scoring.features import batch_features, subject_features
        from xinyong.scoring.snapshot import write_snapshot

        today = CN.today()
        with factory() as session:
            subject = session.get(Subject, subject_id)
            assert subject is not None
            online = subject_features(session, keys, CN, subject, today)
            snapshot = tmp_path / tmp
            write_snapshot(session, keys, snapshot)
        rows = batch_features(snapshot, "enterprise", today, CN).to_pylist()
        [row] = [row for row in rows if row["subject_id"] == subject_id]
        counts = [online[f"penalties_{s}"] or 0 for s in ("minor", "general", "serious")]
        batch = [row[f"penalties_{s}"] or 0 for s in ("minor", "general", "serious")]
        return sum(counts), sum(batch)

    assert penalty_features("before") == (1, 1)

    view = apply(factory, keys, subject_id, application("penalty", record_id))
    assert view.missing == ["obligations_performed"]
    assert add_file(factory, keys, view.id).missing == []
    with factory() as session:  # a case in progress has repaired nothing yet
        assert not rights_presence(session, subject_id).repairs
    approved = approve(factory, keys, view.id)
    with factory() as session:
        assert rights_presence(session, subject_id).repairs
    assert (approved.status, approved.decision) == ("approved", "approved")
    assert approved.repaired_at is not None
    assert [entry.event for entry in approved.timeline] == [
        "filed",
        "evidence_added",
        "acknowledged",
        "decided",
    ]
    # No champion in this database: nothing to re-score, and the event says so.
    assert approved.timeline[-1].details["rescored"] is False

    assert public() == []
    assert record_id not in shared()
    # A repaired penalty no longer counts in scores, online or in batch.
    assert penalty_features("after") == (0, 0)
    # The subject still sees it, marked repaired (JSON and HTML).
    report = issue(factory, keys, subject_principal(subject_id), subject_id, "subject_request")
    [item] = [item for item in all_items(report) if item.record_id == record_id]
    assert item.repaired
    from xinyong.reports.render import render_html

    assert "已信用修复" in render_html(report)
    with factory() as session:
        types = session.scalars(
            select(OutboxEvent.event_type).where(OutboxEvent.subject_id == subject_id)
        ).all()
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.target_type == "repair")
        ).all()
    assert {"repair.filed", "repair.acknowledged", "repair.decided"} <= set(types)
    assert {"repair.file", "repair.acknowledge", "repair.decide"} <= set(actions)


def test_approving_a_list_entry_marks_it_repaired(
    factory: sessionmaker[Session], keys: KeyRing
) -> None:
    subject_id = make_subject(factory, keys, "uscc", new_uscc())
    entry_id = make_entry(
        factory, subject_id, "serious_dishonesty", "refuses_obligation", months_ago(6)
    )
    view = apply(factory, keys, subject_id, application("list_entry", entry_id))
    assert add_file(factory, keys, view.id).missing == []
    approve(factory, keys, view.id)
    with factory() as session:
        # A repaired list entry is no repaired record: reports read no repairs for it.
        assert not rights_presence(session, subject_id).repairs
        entry = session.get(ListEntry, entry_id)
        assert entry is not None
        assert (entry.status, entry.ended_on) == ("repaired", CN.today())


def test_rejection_can_be_appealed_once(factory: sessionmaker[Session], keys: KeyRing) -> None:
    subject_id = make_subject(factory, keys, "uscc", new_uscc())
    entry_id = make_entry(
        factory, subject_id, "abnormal_operations", "no_annual_report", months_ago(3)
    )
    view = apply(factory, keys, subject_id, application("list_entry", entry_id))
    # Deciding before acknowledging is refused.
    reject = repair.RepairDecision(decision="rejected", reason="annual report still missing")
    with transaction(factory) as session, pytest.raises(repair.RepairStateError):
        repair.decide(session, keys, operator(), view.id, reject)
    with transaction(factory) as session:
        repair.acknowledge(session, operator(), view.id)
    with transaction(factory) as session:
        case = repair.decide(session, keys, operator(), view.id, reject)
        assert (case.status, case.decision_reason) == ("rejected", "annual report still missing")
    principal = subject_principal(subject_id)
    with transaction(factory) as session:
        case = repair.appeal(
            session, principal, view.id, repair.RepairAppeal(reason="the report was filed")
        )
        assert (case.status, case.appeals_used) == ("appealed", 1)
    with transaction(factory) as session:
        case = repair.decide_appeal(session, keys, operator("reviewer"), view.id, reject)
        final = repair.view_case(session, keys, principal, case)
    assert (final.status, final.appeals_left) == ("rejected", 0)
    with (
        transaction(factory) as session,
        pytest.raises(repair.AppealNotAllowedError, match="already appealed"),
    ):
        repair.appeal(session, principal, view.id, repair.RepairAppeal(reason="again"))
    with factory() as session:
        events = session.scalars(
            select(RepairEvent.event).where(RepairEvent.case_id == view.id).order_by(RepairEvent.id)
        ).all()
    assert events == ["filed", "acknowledged", "decided", "appealed", "appeal_decided"]
    with factory() as session:
        entry = session.get(ListEntry, entry_id)
        assert entry is not None
        assert entry.status == "active"


# --- deadlines ----------------------------------------------------------------------------------


def test_deadlines_count_working_days_of_the_loaded_calendar(
    factory: sessionmaker[Session], keys: KeyRing
) -> None:
    with transaction(factory) as session:
        load_calendar(session, LOCAL_OPERATOR, parse_calendar_csv(CN_2026), CN_2026)
    subject_id = make_subject(factory, keys, "uscc", new_uscc())
    first = make_entry(
        factory, subject_id, "serious_dishonesty", "refuses_obligation", months_ago(9)
    )
    second = make_entry(
        factory, subject_id, "abnormal_operations", "no_annual_report", months_ago(9)
    )
    # Friday 25 September: ten working days skip National Day (1-7 October) and count the
    # make-up Saturday 10 October.
    one = apply(factory, keys, subject_id, application("list_entry", first), at(date(2026, 9, 25)))
    two = apply(factory, keys, subject_id, application("list_entry", second), at(date(2026, 9, 25)))
    assert (one.filed_on, one.acknowledge_by) == (date(2026, 9, 25), date(2026, 10, 15))
    with transaction(factory) as session:
        case = repair.acknowledge(session, operator(), one.id, now=at(date(2026, 9, 30)))
        # Three working days after Wednesday 30 September: 8, 9 and Saturday 10 October.
        assert case.decide_by == date(2026, 10, 10)

    def run(day: date) -> repair.RepairDeadlineRun:
        with transaction(factory) as session:
            return repair.run_repair_deadlines(session, day, now=at(day))

    assert run(date(2026, 10, 10)) == repair.RepairDeadlineRun(0, 0)
    assert run(date(2026, 10, 12)) == repair.RepairDeadlineRun(0, 1)
    assert run(date(2026, 10, 15)) == repair.RepairDeadlineRun(0, 0)
    assert run(date(2026, 10, 16)) == repair.RepairDeadlineRun(1, 0)
    # Idempotent.
    assert run(date(2026, 10, 17)) == repair.RepairDeadlineRun(0, 0)
    with factory() as session:
        kpis = repair.repair_kpis(session, date(2026, 10, 17))
    assert (kpis.open, kpis.acknowledgement_overdue, kpis.decision_overdue) == (2, 1, 1)
    with factory() as session:
        overdue = session.scalars(
            select(RepairEvent.event).where(RepairEvent.case_id == two.id)
        ).all()
    assert overdue == ["filed", "acknowledgement_overdue"]


# --- the API ------------------------------------------------------------------------------------


def test_routes_and_problem_details(
    client: TestClient,
    factory: sessionmaker[Session],
    keys: KeyRing,
    person: Person,
    operator_key: str,
    auditor_key: str,
) -> None:
    portal = {"Authorization": f"Bearer {person.token}"}
    assert client.get("/v1/portal/repairs", headers=portal).json() == []
    body = {
        "target_kind": "penalty",
        "target_id": person.loan,
        "evidence": [],
        "commitment": COMMITMENT,
        "commitment_signed": True,
    }
    # A credit account is no penalty.
    problem(client.post("/v1/portal/repairs", json=body, headers=portal), 422, "not_repairable")
    problem(
        client.post("/v1/portal/repairs", json={**body, "target_id": 10**8}, headers=portal),
        404,
        "repair_target_not_found",
    )
    company = make_subject(factory, keys, "uscc", new_uscc())
    entry_id = make_entry(
        factory, company, "serious_dishonesty", "refuses_obligation", months_ago(4)
    )
    created = client.post(
        "/v1/repairs",
        json={
            **body,
            "target_kind": "list_entry",
            "target_id": entry_id,
            "evidence": ["performed"],
            "subject_id": company,
        },
        headers=auth(operator_key),
    )
    assert created.status_code == 201, created.text
    case_id = created.json()["id"]
    assert created.json()["missing"] == ["obligations_performed"]
    uploaded = client.post(
        f"/v1/repairs/{case_id}/evidence",
        content=PDF,
        headers={**auth(operator_key), "Content-Type": "application/pdf"},
    )
    assert uploaded.status_code == 201, uploaded.text
    listed = client.get("/v1/repairs", headers=auth(auditor_key))
    assert [case["id"] for case in listed.json()] == [case_id]
    assert listed.json()[0]["commitment"] is None  # auditors see no personal text
    problem(
        client.post(f"/v1/repairs/{case_id}/acknowledge", headers=auth(auditor_key)),
        403,
        "role_not_permitted",
    )
    assert (
        client.post(f"/v1/repairs/{case_id}/acknowledge", headers=auth(operator_key)).json()[
            "status"
        ]
        == "acknowledged"
    )
    problem(
        client.post(
            f"/v1/repairs/{case_id}/appeal-decision",
            json={"decision": "approved", "reason": "x"},
            headers=auth(operator_key),
        ),
        409,
        "repair_state",
    )
    decided = client.post(
        f"/v1/repairs/{case_id}/decide",
        json={"decision": "approved", "reason": "verified"},
        headers=auth(operator_key),
    )
    assert decided.json()["status"] == "approved", decided.text
    kpis = client.get("/v1/repairs/kpis", headers=auth(operator_key)).json()
    assert (kpis["approved"], kpis["open"]) == (1, 0)
    # A subject sees only its own applications.
    problem(client.get(f"/v1/portal/repairs/{case_id}", headers=portal), 404, "repair_not_found")


def _enterprise_champion(factory: sessionmaker[Session], tmp_path: Path) -> None:
    """A small enterprise scorecard on made-up rows, made the champion."""
    rng = np.random.default_rng(5)
    rows = 400
    frame = pd.DataFrame(
        {name: rng.poisson(1.0, rows).astype(float) for name in feature_names("enterprise")}
    )
    logit = -1.0 + 0.6 * frame["judgments"]
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        card = WoeScorecard().fit(frame, y)
        validation = validate_model(card, frame, y).to_dict()
    path = tmp_path / "enterprise-card.json"
    card.save(path)
    with transaction(factory) as session:
        model = register_model(
            session,
            name="enterprise-repair-card",
            segment="enterprise",
            artifact=json.loads(path.read_text(encoding="utf-8")),
            created_by="test",
            feature_set=FEATURE_SET,
            validation=validation,
        )
        approve_model(session, model.id, LOCAL_OPERATOR, "validated")
        promote(session, model.id, LOCAL_OPERATOR, "test champion")


def test_approval_rescores_with_the_champion(
    factory: sessionmaker[Session], keys: KeyRing, tmp_path: Path
) -> None:
    _enterprise_champion(factory, tmp_path)
    subject_id = make_subject(factory, keys, "uscc", new_uscc())
    entry_id = make_entry(
        factory, subject_id, "serious_dishonesty", "refuses_obligation", months_ago(6)
    )
    view = apply(factory, keys, subject_id, application("list_entry", entry_id))
    add_file(factory, keys, view.id)
    approved = approve(factory, keys, view.id)
    assert approved.timeline[-1].details["rescored"] is True
    with factory() as session:
        triggers = session.scalars(
            select(SubjectScore.trigger).where(SubjectScore.subject_id == subject_id)
        ).all()
    assert triggers == ["rescore"]


def test_the_repair_deadline_command(xinyong: Any) -> None:  # noqa: F811
    code, out, err = xinyong("disputes", "run-repair-deadlines", "--today", "2026-12-01")
    assert code == 0, err
    assert out.startswith("2026-12-01: repair acknowledgements overdue 0, decisions overdue 0")

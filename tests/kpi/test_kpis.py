"""Key figures: usage by product and outcome, rights and the list exit rate, API and CLI."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from support import cli_in_process, new_uscc
from xinyong.config import get_settings
from xinyong.db import transaction, utcnow
from xinyong.identity.crypto import KeyRing
from xinyong.identity.models import Subject
from xinyong.identity.service import resolve_subjects, subject_ref
from xinyong.institutions.schemas import LOCAL_OPERATOR, Role
from xinyong.kpi import service
from xinyong.lists import service as lists
from xinyong.lists.schemas import EntryCreate
from xinyong.reports.models import QueryRecord
from xinyong.reports.profiles import get_profile
from xinyong.reports.schemas import SubjectSelector

CN = get_profile("cn")


def _company(factory: sessionmaker[Session], keys: KeyRing) -> int:
    with transaction(factory) as session:
        ref = subject_ref(keys, "uscc", new_uscc(), name="某某有限公司")
        return resolve_subjects(session, keys, [ref])[ref.index][0]


def test_usage_counts_reads_by_product_outcome_and_institution(
    factory: sessionmaker[Session], keys: KeyRing, make_institution: Any
) -> None:
    subject_id = _company(factory, keys)
    lender = make_institution("kpi-lender", purposes=["loan_approval"])
    rows = [("report", "served"), ("report", "refused"), ("score", "served"), ("check", "served")]
    with transaction(factory) as session:
        for product, outcome in rows:
            session.add(
                QueryRecord(
                    product=product,
                    channel="api",
                    role="querier",
                    institution_id=lender.id,
                    subject_id=subject_id,
                    purpose="loan_approval",
                    outcome=outcome,
                )
            )
    today = CN.today()
    with factory() as session:
        usage = service.usage_kpis(session, CN, service.default_period(today))
        old = service.usage_kpis(
            session,
            CN,
            service.Period(start=today - timedelta(days=90), end=today - timedelta(days=60)),
        )
    by_product = {row.product: (row.served, row.refused) for row in usage.by_product}
    assert by_product == {"check": (1, 0), "report": (1, 1), "score": (1, 0)}
    assert [(r.institution_id, r.served, r.refused) for r in usage.by_institution] == [
        (lender.id, 3, 1)
    ]
    assert old.by_product == []


def test_the_list_exit_rate_counts_entries_that_ended_in_the_period(
    factory: sessionmaker[Session], keys: KeyRing
) -> None:
    today = utcnow().date()
    entries = []
    companies = [_company(factory, keys) for _ in range(4)]
    with transaction(factory) as session:
        for n, company_id in enumerate(companies):
            subject = session.get(Subject, company_id)
            assert subject is not None
            entry = lists.create_entry(
                session,
                LOCAL_OPERATOR,
                subject,
                EntryCreate(
                    subject=SubjectSelector(subject_id=company_id),
                    list_type="serious_dishonesty",
                    ground="refuses_obligation",
                    authority="发展改革委",
                    start_date=today - timedelta(days=100 + n),
                    reason="decision",
                ),
            )
            entries.append(entry.id)
    with transaction(factory) as session:
        lists.end_entry(session, LOCAL_OPERATOR, entries[0], "repaired", "repair approved")
        lists.end_entry(session, LOCAL_OPERATOR, entries[1], "removed", "revoked")
    with factory() as session:
        kpis = service.rights_kpis(session, CN, service.default_period(today), today)
    assert kpis.list_exit.in_force == 4
    assert kpis.list_exit.exited == 2
    assert kpis.list_exit.rate == 0.5
    assert kpis.list_exit.by_end == {"removed": 1, "repaired": 1}
    assert kpis.repair.median_days_to_decision is None  # no repair decided
    assert kpis.disputes is not None


def test_kpis_over_http_and_in_the_cli(
    client: TestClient,
    make_key: Any,
    fresh_db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    auditor = {"Authorization": f"Bearer {make_key(Role.AUDITOR)}"}
    usage = client.get("/v1/kpis/usage", headers=auditor)
    assert usage.status_code == 200, usage.text
    assert usage.json()["by_product"] == []
    rights = client.get("/v1/kpis/rights?from=2026-01-01&to=2026-06-30", headers=auditor)
    assert rights.status_code == 200
    assert rights.json()["period"] == {"start": "2026-01-01", "end": "2026-06-30"}
    backwards = client.get("/v1/kpis/rights?from=2026-06-30&to=2026-01-01", headers=auditor)
    assert backwards.status_code == 400
    assert backwards.json()["code"] == "invalid_period"
    xinyong = cli_in_process(fresh_db_url, tmp_path, monkeypatch)
    code, out, err = xinyong("kpi", "rights")
    assert code == 0, err
    assert '"list_exit"' in out
    code, _, err = xinyong("kpi", "usage", "--from", "yesterday")
    assert code == 2
    assert "YYYY-MM-DD" in err
    get_settings.cache_clear()

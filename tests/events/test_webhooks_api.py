"""The webhook subscription API, the embedded worker and `xinyong events run`."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from events_support import Receiver, emit_committed, grant_consent
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from support import auth, new_resident_id
from xinyong.api.app import create_app
from xinyong.audit.models import AuditEntry
from xinyong.config import Settings, get_settings
from xinyong.db import transaction
from xinyong.events.tasks import run_cycle
from xinyong.identity.crypto import KeyRing
from xinyong.identity.service import resolve_subjects, subject_ref
from xinyong.institutions.models import Institution
from xinyong.institutions.schemas import Role

MakeInstitution = Callable[..., Institution]
MakeKey = Callable[..., str]


@pytest.fixture
def api(db: Engine, settings: Settings, keys: KeyRing) -> Iterator[TestClient]:
    """The app without the background worker: these tests run the worker themselves."""
    app = create_app(settings.model_copy(update={"events_worker": "off"}), engine=db, keys=keys)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def lender_key(lender: Institution, make_key: MakeKey) -> str:
    return make_key(Role.QUERIER, lender)


def person(factory: sessionmaker[Session], keys: KeyRing) -> tuple[int, str]:
    identifier = new_resident_id()
    with transaction(factory) as session:
        ref = subject_ref(keys, "resident_id", identifier, name="赵六")
        subject_id, _ = resolve_subjects(session, keys, [ref])[ref.index]
    return subject_id, identifier


def create(api: TestClient, key: str, **body: Any) -> dict[str, Any]:
    body.setdefault("url", "https://lender.example/hooks")
    body.setdefault("event_types", ["list_entry.*"])
    response = api.post("/v1/webhooks", json=body, headers=auth(key))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    return body


def test_an_institution_subscribes_and_sees_the_secret_once(
    api: TestClient, lender_key: str, lender: Institution
) -> None:
    created = create(api, lender_key, event_types=["list_entry.*", "list_entry.created"])
    assert created["secret"].startswith("whsec_")
    assert created["institution_id"] == lender.id
    assert created["status"] == "active"
    assert created["event_types"] == ["list_entry.*", "list_entry.created"]
    assert created["monitored_subjects"] == 0

    listed = api.get("/v1/webhooks", headers=auth(lender_key)).json()
    assert [w["id"] for w in listed] == [created["id"]]
    single = api.get(f"/v1/webhooks/{created['id']}", headers=auth(lender_key)).json()
    assert "secret" not in single
    assert "secret" not in listed[0]
    assert created["secret"] not in api.get("/v1/webhooks", headers=auth(lender_key)).text


def test_an_institution_sees_only_its_own(
    api: TestClient, lender_key: str, make_institution: MakeInstitution, make_key: MakeKey
) -> None:
    created = create(api, lender_key)
    rival = make_institution("rival-lender", purposes=["loan_approval"])
    rival_key = make_key(Role.QUERIER, rival)
    assert api.get("/v1/webhooks", headers=auth(rival_key)).json() == []
    for method, path in [
        ("GET", f"/v1/webhooks/{created['id']}"),
        ("POST", f"/v1/webhooks/{created['id']}/disable"),
        ("POST", f"/v1/webhooks/{created['id']}/secret"),
        ("GET", f"/v1/webhooks/{created['id']}/deliveries"),
        ("GET", f"/v1/webhooks/{created['id']}/subjects"),
    ]:
        problem(api.request(method, path, headers=auth(rival_key)), 404, "webhook_not_found")
    # Staff see everything.
    auditor = make_key(Role.AUDITOR)
    assert [w["id"] for w in api.get("/v1/webhooks", headers=auth(auditor)).json()] == [
        created["id"]
    ]


def test_operators_subscribe_for_an_institution_and_are_audited(
    api: TestClient,
    lender: Institution,
    make_key: MakeKey,
    make_institution: MakeInstitution,
    factory: sessionmaker[Session],
) -> None:
    operator = make_key(Role.OPERATOR)
    body = {"url": "https://lender.example/hooks", "event_types": ["*"]}
    problem(
        api.post("/v1/webhooks", json=body, headers=auth(operator)), 400, "institution_required"
    )
    bank = make_institution("furnishing-bank", record_types=["credit_account"])
    problem(
        api.post("/v1/webhooks", json={**body, "institution_id": bank.id}, headers=auth(operator)),
        403,
        "not_a_querying_institution",
    )
    created = create(api, operator, institution_id=lender.id, event_types=["*"])
    assert created["institution_id"] == lender.id
    webhook = created["id"]
    assert api.post(f"/v1/webhooks/{webhook}/secret", headers=auth(operator)).status_code == 200
    disabled = api.post(
        f"/v1/webhooks/{webhook}/disable",
        json={"reason": "endpoint retired"},
        headers=auth(operator),
    )
    assert disabled.status_code == 200
    with factory() as session:
        actions = session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.target_type == "webhook_subscription")
            .order_by(AuditEntry.id)
        ).all()
    assert actions == ["webhook.create", "webhook.secret.rotate", "webhook.disable"]


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("ftp://lender.example/hooks", "http:// or https://"),
        ("javascript:alert(1)", "http:// or https://"),
        ("lender.example/hooks", "http:// or https://"),
        ("https://user:pw@lender.example/hooks", "credentials"),
        ("https:///hooks", "no host"),
    ],
)
def test_only_http_urls_are_accepted(
    api: TestClient, lender_key: str, url: str, fragment: str
) -> None:
    response = api.post(
        "/v1/webhooks", json={"url": url, "event_types": ["*"]}, headers=auth(lender_key)
    )
    assert fragment in problem(response, 400, "invalid_webhook_url")["detail"]


def test_event_types_must_be_types_or_patterns(api: TestClient, lender_key: str) -> None:
    for types in (["list_entry"], ["list_entry.**"], ["List.Created"], ["*.created"]):
        response = api.post(
            "/v1/webhooks",
            json={"url": "https://lender.example/h", "event_types": types},
            headers=auth(lender_key),
        )
        problem(response, 400, "invalid_event_types")
    response = api.post(
        "/v1/webhooks",
        json={"url": "https://lender.example/h", "event_types": []},
        headers=auth(lender_key),
    )
    problem(response, 422, "validation_error")


def test_monitoring_needs_business_with_the_subject(
    api: TestClient,
    lender_key: str,
    lender: Institution,
    factory: sessionmaker[Session],
    keys: KeyRing,
) -> None:
    subject_id, identifier = person(factory, keys)
    selector = {"identifier_type": "resident_id", "identifier": identifier}
    response = api.post(
        "/v1/webhooks",
        json={"url": "https://l.example/h", "event_types": ["*"], "subjects": [selector]},
        headers=auth(lender_key),
    )
    body = problem(response, 403, "no_relationship_with_subject")
    assert identifier not in response.text
    assert body["subject_ids"] == [subject_id]

    grant_consent(factory, lender.id, subject_id)
    created = create(api, lender_key, subjects=[selector])
    assert created["monitored_subjects"] == 1
    webhook = created["id"]

    other_id, _ = person(factory, keys)
    problem(
        api.put(f"/v1/webhooks/{webhook}/subjects/{other_id}", headers=auth(lender_key)),
        403,
        "no_relationship_with_subject",
    )
    grant_consent(factory, lender.id, other_id)
    path = f"/v1/webhooks/{webhook}/subjects/{other_id}"
    assert api.put(path, headers=auth(lender_key)).status_code == 204
    assert api.put(path, headers=auth(lender_key)).status_code == 204  # idempotent
    listed = api.get(f"/v1/webhooks/{webhook}/subjects", headers=auth(lender_key)).json()
    assert sorted(m["subject_id"] for m in listed) == sorted([subject_id, other_id])
    assert api.delete(path, headers=auth(lender_key)).status_code == 204
    problem(api.delete(path, headers=auth(lender_key)), 404, "monitored_subject_not_found")

    added = api.post(
        f"/v1/webhooks/{webhook}/subjects",
        json={"subjects": [{"subject_id": other_id}]},
        headers=auth(lender_key),
    )
    assert added.json() == {"subscription_id": webhook, "subject_ids": [other_id]}
    problem(
        api.put(f"/v1/webhooks/{webhook}/subjects/987654", headers=auth(lender_key)),
        404,
        "subject_not_found",
    )


def test_rotation_and_disabling(api: TestClient, lender_key: str) -> None:
    created = create(api, lender_key)
    webhook = created["id"]
    rotated = api.post(f"/v1/webhooks/{webhook}/secret", headers=auth(lender_key)).json()
    assert rotated["secret"].startswith("whsec_")
    assert rotated["secret"] != created["secret"]
    assert rotated["previous_secret_expires_at"]
    disabled = api.post(f"/v1/webhooks/{webhook}/disable", headers=auth(lender_key)).json()
    assert disabled["status"] == "disabled"
    assert disabled["disabled_at"]
    problem(
        api.post(f"/v1/webhooks/{webhook}/disable", headers=auth(lender_key)),
        409,
        "webhook_disabled",
    )
    problem(
        api.post(f"/v1/webhooks/{webhook}/secret", headers=auth(lender_key)),
        409,
        "webhook_disabled",
    )
    listed = api.get("/v1/webhooks?status=active", headers=auth(lender_key)).json()
    assert listed == []


def test_the_delivery_log(
    api: TestClient,
    lender_key: str,
    factory: sessionmaker[Session],
    keys: KeyRing,
    receiver: Receiver,
) -> None:
    webhook = create(api, lender_key, url=receiver.url, event_types=["*"])["id"]
    receiver.mode = "unavailable"
    event_id = emit_committed(factory)
    run_cycle(factory, keys)
    [delivery] = api.get(f"/v1/webhooks/{webhook}/deliveries", headers=auth(lender_key)).json()
    assert delivery["event_id"] == event_id
    assert delivery["status"] == "pending"
    assert (delivery["attempts"], delivery["last_status_code"]) == (1, 503)
    assert delivery["next_attempt_at"]
    path = f"/v1/webhooks/{webhook}/deliveries/{delivery['id']}"
    detail = api.get(path, headers=auth(lender_key)).json()
    assert [(a["status_code"], a["error"]) for a in detail["attempt_log"]] == [(503, "HTTP 503")]
    delivered = api.get(
        f"/v1/webhooks/{webhook}/deliveries?status=delivered", headers=auth(lender_key)
    )
    assert delivered.json() == []
    problem(
        api.get(f"/v1/webhooks/{webhook}/deliveries/987654", headers=auth(lender_key)),
        404,
        "delivery_not_found",
    )


def _worker_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "xinyong-events" and t.is_alive()]


def test_the_embedded_worker_runs_with_the_app_and_delivers(
    db: Engine,
    settings: Settings,
    keys: KeyRing,
    lender: Institution,
    make_key: MakeKey,
    factory: sessionmaker[Session],
    receiver: Receiver,
) -> None:
    embedded = settings.model_copy(
        update={"events_worker": "embedded", "events_interval_seconds": 0.1}
    )
    with TestClient(create_app(embedded, engine=db, keys=keys)) as api:
        assert len(_worker_threads()) == 1
        key = make_key(Role.QUERIER, lender)
        create(api, key, url=receiver.url, event_types=["*"])
        event_id = emit_committed(factory)
        for _ in range(300):  # bounded wait for the background thread; no timing asserted
            if receiver.accepted():
                break
            time.sleep(0.05)
        assert [r.webhook_id for r in receiver.accepted()] == [event_id]
    assert _worker_threads() == []


def test_no_worker_when_it_is_off(db: Engine, settings: Settings, keys: KeyRing) -> None:
    off = settings.model_copy(update={"events_worker": "off"})
    with TestClient(create_app(off, engine=db, keys=keys)):
        assert _worker_threads() == []


def test_xinyong_events_run_once(
    fresh_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from xinyong.cli import main as cli_main

    for name in list(os.environ):
        if name.startswith("XINYONG_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XINYONG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("XINYONG_DATABASE_URL", fresh_db_url)
    get_settings.cache_clear()
    monkeypatch.setattr(sys, "argv", ["xinyong", "events", "run", "--once"])
    with CliRunner().isolation() as (out, _err, _):
        with pytest.raises(SystemExit) as exit_info:
            cli_main.main()
        output = out.getvalue().decode()
    get_settings.cache_clear()
    assert exit_info.value.code in (0, None)
    assert "0 event(s) fanned out into 0 deliveries" in output

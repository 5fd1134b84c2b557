"""The model registry over HTTP, through the real ASGI app (both database backends)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from scoring.registry_helpers import artifact, validation
from support import auth
from xinyong.api.problems import PROBLEM_JSON
from xinyong.audit.models import AuditEntry
from xinyong.institutions.models import Institution
from xinyong.institutions.schemas import Role
from xinyong.scoring.models import ScoringModel

# The root conftest's fixture types (`conftest` here is tests/scoring/conftest.py).
MakeInstitution = Callable[..., Institution]
MakeKey = Callable[..., str]


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert (body["status"], body["code"]) == (status, code), body
    assert body["detail"]
    return body


@pytest.fixture
def keys_by_role(make_institution: MakeInstitution, make_key: MakeKey) -> dict[Role, str]:
    furnisher = make_institution("bank-models", record_types=["credit_account"])
    querier = make_institution("lender-models", purposes=["loan_approval"])
    return {
        Role.OPERATOR: make_key(Role.OPERATOR),
        Role.AUDITOR: make_key(Role.AUDITOR),
        Role.FURNISHER: make_key(Role.FURNISHER, furnisher),
        Role.QUERIER: make_key(Role.QUERIER, querier),
    }


@pytest.fixture
def operator(keys_by_role: dict[Role, str]) -> dict[str, str]:
    return auth(keys_by_role[Role.OPERATOR])


def register(
    client: TestClient, headers: dict[str, str], seed: int = 1, **extra: Any
) -> dict[str, Any]:
    payload = {"name": "person-scorecard", "segment": "person", "artifact": artifact(seed)}
    response = client.post("/v1/models", json={**payload, **extra}, headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_the_lifecycle_over_http(
    client: TestClient, operator: dict[str, str], factory: sessionmaker[Session]
) -> None:
    created = register(client, operator, feature_set="person-features/1")
    model_id = created["id"]
    assert (created["name"], created["version"], created["status"]) == (
        "person-scorecard",
        1,
        "draft",
    )
    assert created["feature_set"] == "person-features/1"
    assert created["artifact_digest"].startswith("sha256:")
    assert created["artifact"] is None
    assert [(e["from_status"], e["to_status"]) for e in created["events"]] == [(None, "draft")]

    # The validation report is the body itself, as validate_model(...).to_json() writes it.
    validated = client.post(
        f"/v1/models/{model_id}/validation", json=validation(1), headers=operator
    )
    assert validated.status_code == 200, validated.text
    assert validated.json()["status"] == "validated"
    assert validated.json()["validation"]["auc"] == validation(1)["auc"]

    for action, status in (("approve", "approved"), ("promote", "champion")):
        response = client.post(
            f"/v1/models/{model_id}/{action}", json={"reason": f"{action}: ok"}, headers=operator
        )
        assert response.status_code == 200, response.text
        assert response.json()["status"] == status

    champions = client.get("/v1/models?segment=person&status=champion", headers=operator)
    assert [m["id"] for m in champions.json()] == [model_id]
    assert client.get("/v1/models?segment=enterprise", headers=operator).json() == []

    detail = client.get(f"/v1/models/{model_id}?artifact=true", headers=operator).json()
    assert detail["artifact"] == artifact(1)
    assert [(e["from_status"], e["to_status"], e["reason"]) for e in detail["events"][2:]] == [
        ("validated", "approved", "approve: ok"),
        ("approved", "champion", "promote: ok"),
    ]
    assert {(e["actor"], e["role"]) for e in detail["events"]} == {("operator key", "operator")}

    retired = client.post(
        f"/v1/models/{model_id}/retire", json={"reason": "replaced"}, headers=operator
    )
    assert retired.json()["status"] == "retired"
    with factory() as session:
        actions = session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.target_type == "scoring_model")
            .order_by(AuditEntry.id)
        ).all()
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "model.retire")).one()
    assert actions == [
        "model.register",
        "model.validate",
        "model.approve",
        "model.promote",
        "model.retire",
    ]
    assert (entry.actor, entry.reason, entry.api_key_id is not None) == (
        "operator key",
        "replaced",
        True,
    )


def test_register_with_validation_and_promotion_replaces_the_champion(
    client: TestClient, operator: dict[str, str]
) -> None:
    old = register(client, operator, 1, validation=validation(1))
    new = register(client, operator, 2, validation=validation(2))
    assert (old["status"], new["status"], new["version"]) == ("validated", "validated", 2)
    for model in (old, new):
        for action in ("approve", "promote"):
            response = client.post(
                f"/v1/models/{model['id']}/{action}", json={"reason": "ok"}, headers=operator
            )
            assert response.status_code == 200, response.text
    listed = {m["id"]: m["status"] for m in client.get("/v1/models", headers=operator).json()}
    assert listed == {old["id"]: "retired", new["id"]: "champion"}
    history = client.get(f"/v1/models/{old['id']}", headers=operator).json()["events"]
    assert history[-1]["to_status"] == "retired"
    assert f"model {new['id']} (person-scorecard v2)" in history[-1]["reason"]


def test_a_refused_transition_is_a_409_problem(
    client: TestClient, operator: dict[str, str]
) -> None:
    model_id = register(client, operator)["id"]
    response = client.post(
        f"/v1/models/{model_id}/promote", json={"reason": "skip the queue"}, headers=operator
    )
    body = problem(response, 409, "model_transition_not_allowed")
    assert (body["from_status"], body["to_status"]) == ("draft", "champion")
    assert body["allowed"] == ["validated", "retired"]
    assert "draft" in body["detail"]
    assert "validated or retired" in body["detail"]
    assert body["instance"] == f"/v1/models/{model_id}/promote"
    again = client.post(f"/v1/models/{model_id}/validation", json=validation(1), headers=operator)
    assert again.status_code == 200
    body = problem(
        client.post(f"/v1/models/{model_id}/validation", json=validation(1), headers=operator),
        409,
        "model_transition_not_allowed",
    )
    assert body["from_status"] == "validated"


def test_an_unknown_model_is_a_404_problem(client: TestClient, operator: dict[str, str]) -> None:
    problem(client.get("/v1/models/987654", headers=operator), 404, "model_not_found")
    problem(
        client.post("/v1/models/987654/retire", json={"reason": "x"}, headers=operator),
        404,
        "model_not_found",
    )


@pytest.mark.parametrize("payload", [{}, {"reason": ""}, {"reason": "   "}, {"reason": None}])
def test_a_missing_or_blank_reason_is_a_422_problem(
    client: TestClient, operator: dict[str, str], payload: dict[str, Any]
) -> None:
    model_id = register(client, operator)["id"]
    for action in ("approve", "promote", "retire"):
        body = problem(
            client.post(f"/v1/models/{model_id}/{action}", json=payload, headers=operator),
            422,
            "validation_error",
        )
        assert [e["location"] for e in body["errors"]] == [["body", "reason"]]
    assert client.get(f"/v1/models/{model_id}", headers=operator).json()["status"] == "draft"


def test_bad_registrations_are_refused(
    client: TestClient, operator: dict[str, str], factory: sessionmaker[Session]
) -> None:
    broken = {**artifact(1), "kind": "neural_net"}
    response = client.post(
        "/v1/models",
        json={"name": "person-scorecard", "segment": "person", "artifact": broken},
        headers=operator,
    )
    assert "neural_net" in problem(response, 400, "invalid_model_artifact")["detail"]
    response = client.post(
        "/v1/models",
        json={"name": "Not A Slug", "segment": "martian", "artifact": artifact(1)},
        headers=operator,
    )
    locations = {tuple(e["location"]) for e in problem(response, 422, "validation_error")["errors"]}
    assert locations == {("body", "name"), ("body", "segment")}
    response = client.post(
        "/v1/models",
        json={
            "name": "person-scorecard",
            "segment": "person",
            "artifact": artifact(1),
            "validation": validation(2),
        },
        headers=operator,
    )
    problem(response, 400, "invalid_validation_report")
    with factory() as session:
        # The refused registration with a mismatched report left nothing behind.
        assert session.scalars(select(ScoringModel)).all() == []
    register(client, operator)
    problem(
        client.post(
            "/v1/models",
            json={"name": "other", "segment": "person", "artifact": artifact(1)},
            headers=operator,
        ),
        409,
        "model_already_registered",
    )


def test_auditors_read_but_do_not_change(
    client: TestClient, operator: dict[str, str], keys_by_role: dict[Role, str]
) -> None:
    model_id = register(client, operator)["id"]
    auditor = auth(keys_by_role[Role.AUDITOR])
    assert [m["id"] for m in client.get("/v1/models", headers=auditor).json()] == [model_id]
    assert client.get(f"/v1/models/{model_id}", headers=auditor).json()["id"] == model_id
    for path, payload in (
        ("/v1/models", {"name": "x", "segment": "person", "artifact": artifact(2)}),
        (f"/v1/models/{model_id}/validation", validation(1)),
        (f"/v1/models/{model_id}/approve", {"reason": "x"}),
        (f"/v1/models/{model_id}/promote", {"reason": "x"}),
        (f"/v1/models/{model_id}/retire", {"reason": "x"}),
    ):
        refused = client.post(path, json=payload, headers=auditor)
        assert problem(refused, 403, "role_not_permitted")["allowed_roles"] == ["operator"]
    assert client.get(f"/v1/models/{model_id}", headers=auditor).json()["status"] == "draft"


MODEL_ROUTES = [
    ("GET", "/v1/models"),
    ("GET", "/v1/models/1"),
    ("POST", "/v1/models"),
    ("POST", "/v1/models/1/validation"),
    ("POST", "/v1/models/1/approve"),
    ("POST", "/v1/models/1/promote"),
    ("POST", "/v1/models/1/retire"),
]


@pytest.mark.parametrize("role", [Role.FURNISHER, Role.QUERIER])
def test_furnishers_and_queriers_reach_no_model_route(
    client: TestClient, keys_by_role: dict[Role, str], role: Role
) -> None:
    headers = auth(keys_by_role[role])
    for method, path in MODEL_ROUTES:
        kwargs: dict[str, Any] = {"json": {"reason": "x"}} if method == "POST" else {}
        response = client.request(method, path, headers=headers, **kwargs)
        body = problem(response, 403, "role_not_permitted")
        assert body["role"] == role.value


def test_no_model_route_is_reachable_without_a_key(client: TestClient) -> None:
    for method, path in MODEL_ROUTES:
        problem(client.request(method, path), 401, "unauthenticated")

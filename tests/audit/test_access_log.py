"""Every read of credit data is recorded in the access log."""

from __future__ import annotations

from fastapi.testclient import TestClient

from support import MakeInstitution, MakeKey, account_row, auth, new_resident_id
from xinyong.institutions.schemas import Role


def _load_one(
    client: TestClient, make_institution: MakeInstitution, make_key: MakeKey
) -> tuple[str, int, int]:
    bank = make_institution("bank-audit", record_types=["credit_account"])
    furnisher = make_key(Role.FURNISHER, bank)
    person = new_resident_id()
    batch = client.post("/v1/ingestion/records", json=account_row(person), headers=auth(furnisher))
    assert batch.status_code == 201, batch.text
    accepted = client.get(
        f"/v1/ingestion/batches/{batch.json()['id']}/accepted", headers=auth(furnisher)
    ).json()
    record = client.get(f"/v1/records/{accepted[0]['record_id']}", headers=auth(furnisher)).json()
    return person, record["subject_id"], record["id"]


def test_reads_of_credit_data_are_recorded(
    client: TestClient, make_institution: MakeInstitution, make_key: MakeKey
) -> None:
    person, subject_id, record_id = _load_one(client, make_institution, make_key)
    operator, auditor = make_key(Role.OPERATOR), make_key(Role.AUDITOR)

    lookup = client.post(
        "/v1/subjects/lookup?reveal=true",
        json={"id_type": "resident_id", "identifier": person},
        headers=auth(operator),
    )
    assert lookup.status_code == 200
    assert client.get(f"/v1/subjects/{subject_id}", headers=auth(auditor)).status_code == 200
    records = client.get(f"/v1/subjects/{subject_id}/records", headers=auth(auditor))
    assert len(records.json()) == 1

    events = client.get(
        f"/v1/audit/access-events?subject_id={subject_id}", headers=auth(auditor)
    ).json()
    actions = [(e["action"], e["role"]) for e in reversed(events)]
    assert actions == [
        ("record.history.read", "furnisher"),
        ("subject.lookup", "operator"),
        ("subject.identifier.revealed", "operator"),
        ("subject.read", "auditor"),
        ("subject.records.read", "auditor"),
    ]
    assert events[0]["details"] == {"records": 1, "include_deleted": False}
    history = client.get(
        f"/v1/audit/access-events?record_id={record_id}", headers=auth(auditor)
    ).json()
    assert [e["action"] for e in history] == ["record.history.read"]
    # The log itself names no identifier.
    assert person not in str(events)


def test_a_refused_reveal_is_not_served_and_not_recorded(
    client: TestClient, make_institution: MakeInstitution, make_key: MakeKey
) -> None:
    _, subject_id, _ = _load_one(client, make_institution, make_key)
    auditor = make_key(Role.AUDITOR)
    refused = client.get(f"/v1/subjects/{subject_id}?reveal=true", headers=auth(auditor))
    assert refused.status_code == 403
    events = client.get(
        f"/v1/audit/access-events?subject_id={subject_id}", headers=auth(auditor)
    ).json()
    assert [e["action"] for e in events] == ["record.history.read"]


def test_only_staff_read_the_access_log(
    client: TestClient, make_institution: MakeInstitution, make_key: MakeKey
) -> None:
    bank = make_institution("bank-audit-2", record_types=["credit_account"])
    response = client.get("/v1/audit/access-events", headers=auth(make_key(Role.FURNISHER, bank)))
    assert response.status_code == 403
    assert response.json()["code"] == "role_not_permitted"

from __future__ import annotations

from fastapi.testclient import TestClient

from support import MakeInstitution, MakeKey, account_row, auth, new_resident_id
from xinyong.institutions.schemas import Role


def test_single_record_round_trip(
    client: TestClient, make_institution: MakeInstitution, make_key: MakeKey
) -> None:
    bank = make_institution("bank-a", record_types=["credit_account"])
    key = make_key(Role.FURNISHER, bank)
    person = new_resident_id()
    response = client.post("/v1/ingestion/records", json=account_row(person), headers=auth(key))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["rows"]["created"] == 1
    accepted = client.get(f"/v1/ingestion/batches/{body['id']}/accepted", headers=auth(key)).json()
    record_id = accepted[0]["record_id"]
    history = client.get(f"/v1/records/{record_id}", headers=auth(key)).json()
    assert history["versions"][0]["fields"]["balance"] == "12000.00"

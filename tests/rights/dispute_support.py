"""Helpers of the dispute tests: a subject with records at two furnishers, HTTP shortcuts."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from datetime import date
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from support import auth
from xinyong.db import transaction
from xinyong.events.models import OutboxEvent
from xinyong.identity.crypto import KeyRing
from xinyong.rights.disputes import run_dispute_deadlines

PROBLEM = "application/problem+json"
TEXT = "该笔贷款并非本人办理，本人从未向该银行申请过贷款。"

# The smallest files that start like the real thing.
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def png_bytes() -> bytes:
    """A 1×1 white PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\xff\xff")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


@dataclass(frozen=True)
class Person:
    """A subject signed in to the portal, with two loans at the bank and a card elsewhere."""

    identifier: str
    subject_id: int
    token: str
    loan: int
    second_loan: int
    card: int


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert (body["status"], body["code"]) == (status, code), body
    assert body["type"] == f"urn:xinyong:problem:{code}"
    return body


def file_dispute(
    client: TestClient,
    token: str,
    record_ids: list[int],
    *,
    reason: str = "not_mine",
    text: str = TEXT,
) -> dict[str, Any]:
    response = client.post(
        "/v1/portal/disputes",
        json={"record_ids": record_ids, "reason_code": reason, "text": text},
        headers=auth(token),
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def own_report(client: TestClient, token: str, **params: str) -> dict[str, Any]:
    response = client.get("/v1/portal/report", params=params, headers=auth(token))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def items_by_record(report: dict[str, Any]) -> dict[int, dict[str, Any]]:
    items = list(report["credit_accounts"])
    for section in report["public_records"].values():
        items.extend(section)
    return {item["record_id"]: item for item in items}


def task_of(client: TestClient, key: str, record_id: int) -> dict[str, Any]:
    response = client.get("/v1/verification-tasks", headers=auth(key))
    assert response.status_code == 200, response.text
    (task,) = [task for task in response.json() if task["record_id"] == record_id]
    return dict(task)


def answer(client: TestClient, key: str, task_id: int, **body: Any) -> Any:
    return client.post(f"/v1/verification-tasks/{task_id}/answer", json=body, headers=auth(key))


def run_deadlines(factory: sessionmaker[Session], keys: KeyRing, today: date) -> Any:
    with transaction(factory) as session:
        return run_dispute_deadlines(session, today, keys=keys)


def outbox_types(factory: sessionmaker[Session], subject_id: int) -> list[str]:
    with factory() as session:
        return list(
            session.scalars(
                select(OutboxEvent.event_type)
                .where(OutboxEvent.subject_id == subject_id)
                .order_by(OutboxEvent.id)
            )
        )

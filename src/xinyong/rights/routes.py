"""The subject's statements on items of its credit file (portal)."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter

from xinyong.api.deps import DbSession, Keys, Subject
from xinyong.rights import service
from xinyong.rights.schemas import StatementCreate, StatementView

router = APIRouter(prefix="/v1/portal/statements", tags=["portal"])


def _view(statement: service.StatementText) -> StatementView:
    return StatementView(**asdict(statement))


@router.get("", summary="Your statements on items of your credit file, newest first")
def read_statements(session: DbSession, keys: Keys, principal: Subject) -> list[StatementView]:
    assert principal.subject_id is not None
    return [_view(s) for s in service.list_statements(session, keys, principal.subject_id)]


@router.post("", status_code=201, summary="Attach a statement to an item of your credit file")
def create_statement(
    body: StatementCreate, session: DbSession, keys: Keys, principal: Subject
) -> StatementView:
    assert principal.subject_id is not None
    statement = service.add_statement(
        session, keys, principal.subject_id, body.record_id, body.text, made_by="subject"
    )
    return _view(service.view_statement(session, keys, statement))


@router.delete("/{statement_id}", summary="Withdraw a statement (earlier reports keep it)")
def withdraw_statement(
    statement_id: int, session: DbSession, keys: Keys, principal: Subject
) -> StatementView:
    assert principal.subject_id is not None
    statement = service.withdraw_statement(session, principal.subject_id, statement_id)
    return _view(service.view_statement(session, keys, statement))

"""Model registry routes: operators register and move models on; auditors read."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, status

from xinyong.api.deps import (
    DbSession,
    Keys,
    Operator,
    Profile,
    SessionFactory,
    StaffReader,
    Subject,
    require_roles,
)
from xinyong.audit.schemas import AccessAction
from xinyong.audit.service import record_access
from xinyong.identity.service import get_subject
from xinyong.institutions.schemas import Principal, Role
from xinyong.reports.schemas import Channel
from xinyong.reports.service import QueryRequest, resolve_selector
from xinyong.scoring import registry
from xinyong.scoring import service as scores
from xinyong.scoring.schemas import (
    ModelRegistration,
    ModelSegment,
    ModelStatus,
    ScoreRequest,
    ScoreView,
    ScoringModelDetail,
    ScoringModelView,
    ServedScoreView,
    TransitionRequest,
)

router = APIRouter(prefix="/v1/models", tags=["models"])
# Scores of subjects: institutions query them, subjects see their own, staff read histories.
scores_router = APIRouter(tags=["scores"])
ScoreReader = Annotated[Principal, Depends(require_roles(Role.QUERIER, Role.OPERATOR))]


@router.get("", summary="Registered scoring models, newest first")
def read_models(
    session: DbSession,
    _: StaffReader,
    segment: ModelSegment | None = None,
    model_status: Annotated[ModelStatus | None, Query(alias="status")] = None,
) -> list[ScoringModelView]:
    found = registry.list_models(session, segment=segment, status=model_status)
    return [registry.view_model(model) for model in found]


@router.get("/{model_id}", summary="One model with its history (and its artifact if asked)")
def read_model(
    model_id: int,
    session: DbSession,
    _: StaffReader,
    artifact: Annotated[bool, Query(description="Include the artifact document.")] = False,
) -> ScoringModelDetail:
    model = registry.get_model(session, model_id)
    return registry.view_model_detail(session, model, with_artifact=artifact)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Register a fitted model's artifact as the next version of a model (draft)",
)
def register_model(
    body: ModelRegistration, session: DbSession, principal: Operator
) -> ScoringModelDetail:
    model = registry.register_model(
        session,
        name=body.name,
        segment=body.segment,
        artifact=body.artifact,
        created_by=principal.label,
        feature_set=body.feature_set,
        validation=body.validation,
        principal=principal,
    )
    return registry.view_model_detail(session, model)


@router.post(
    "/{model_id}/validation",
    summary="Attach a validation report (its JSON as the body): draft → validated",
)
def attach_validation(
    model_id: int,
    body: Annotated[dict[str, Any], Body(description="The validation report's JSON document.")],
    session: DbSession,
    principal: Operator,
) -> ScoringModelDetail:
    model = registry.attach_validation(session, model_id, body, principal)
    return registry.view_model_detail(session, model)


@router.post("/{model_id}/approve", summary="Approve a validated model: validated → approved")
def approve_model(
    model_id: int, body: TransitionRequest, session: DbSession, principal: Operator
) -> ScoringModelDetail:
    model = registry.approve(session, model_id, principal, body.reason)
    return registry.view_model_detail(session, model)


@router.post(
    "/{model_id}/promote",
    summary="Make an approved model its segment's champion; the previous one is retired",
)
def promote_model(
    model_id: int, body: TransitionRequest, session: DbSession, principal: Operator
) -> ScoringModelDetail:
    model = registry.promote(session, model_id, principal, body.reason)
    return registry.view_model_detail(session, model)


@router.post("/{model_id}/retire", summary="Retire a model (from any status but retired)")
def retire_model(
    model_id: int, body: TransitionRequest, session: DbSession, principal: Operator
) -> ScoringModelDetail:
    model = registry.retire(session, model_id, principal, body.reason)
    return registry.view_model_detail(session, model)


# --- scores ---------------------------------------------------------------------------------------


def _served(result: scores.ServedScore) -> ServedScoreView:
    return ServedScoreView(
        query_record_id=result.query_record_id,
        purpose=result.purpose,
        consent_id=result.consent_id,
        score=result.score,
    )


@scores_router.post(
    "/v1/scores",
    summary="Score a subject for a stated purpose (consent checked, query recorded)",
)
def create_score(
    body: ScoreRequest,
    session: DbSession,
    factory: SessionFactory,
    keys: Keys,
    profile: Profile,
    principal: ScoreReader,
) -> ServedScoreView:
    subject = resolve_selector(session, keys, body.subject)
    result = scores.request_score(
        session,
        factory,
        keys,
        principal,
        profile,
        subject,
        QueryRequest(
            purpose=body.purpose,
            as_of=body.as_of,
            consent_id=body.consent_id,
            reference=body.reference,
            operator_user=body.operator_user,
        ),
        channel=Channel.API,
    )
    return _served(result)


@scores_router.get(
    "/v1/subjects/{subject_id}/scores",
    summary="A subject's score history, newest first (staff; the read is logged)",
)
def read_score_history(
    subject_id: int,
    session: DbSession,
    keys: Keys,
    principal: StaffReader,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[ScoreView]:
    subject = get_subject(session, subject_id)
    history = registry.score_history(session, keys, subject.id, limit=limit)
    record_access(session, principal, AccessAction.SCORE_HISTORY_READ, subject_id=subject.id)
    return history


@scores_router.get(
    "/v1/portal/score",
    tags=["portal"],
    summary="Your own score today, with its key factors (a soft query: never lowers a score)",
)
def read_own_score(
    session: DbSession,
    factory: SessionFactory,
    keys: Keys,
    profile: Profile,
    principal: Subject,
) -> ServedScoreView:
    assert principal.subject_id is not None
    subject = get_subject(session, principal.subject_id)
    result = scores.request_score(
        session,
        factory,
        keys,
        principal,
        profile,
        subject,
        QueryRequest(purpose="subject_request"),
        channel=Channel.PORTAL,
    )
    return _served(result)


@scores_router.get("/v1/portal/scores", tags=["portal"], summary="Your score history, newest first")
def read_own_scores(
    session: DbSession,
    keys: Keys,
    principal: Subject,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[ScoreView]:
    assert principal.subject_id is not None
    return registry.score_history(session, keys, principal.subject_id, limit=limit)

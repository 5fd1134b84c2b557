"""The model registry and score history (the scoring domain's service).

A fitted model's artifact is registered as a new version of a named model, in status draft,
and moves on only through the transitions below, each written as a :class:`ModelEvent`
and a staff audit entry in the caller's transaction::

    draft ──validate──▶ validated ──approve──▶ approved ──promote──▶ champion
      └─────────────────────┴──────────retire────────┴───────────────┴──▶ retired

At most one model per segment is champion: promoting one retires the segment's previous
champion (an event of its own). Retired is final; to bring a model back, register its
artifact again. Functions here take a session and never commit.

Scores are recorded per subject with the model that made them; their content is encrypted
with its own context (:data:`SCORE_CONTEXT`).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xinyong.audit.schemas import StaffAction
from xinyong.audit.service import record_staff_action
from xinyong.db import utcnow
from xinyong.errors import ConflictError, NotFoundError, PermissionDeniedError, XinyongError
from xinyong.identity.crypto import KeyRing
from xinyong.identity.service import get_subject
from xinyong.institutions.schemas import Principal, Role
from xinyong.scoring.artifacts import ARTIFACT_FORMAT, ARTIFACT_VERSION
from xinyong.scoring.errors import ModelArtifactError
from xinyong.scoring.models import ModelEvent, ScoringModel, SubjectScore, segment_of
from xinyong.scoring.reasons import ScoreResult, Unscorable
from xinyong.scoring.schemas import (
    MAX_FEATURE_SET,
    MAX_MODEL_NAME,
    MAX_REASON,
    MODEL_NAME_PATTERN,
    ModelEventView,
    ModelKind,
    ModelSegment,
    ModelStatus,
    ReasonView,
    ScoreOutcome,
    ScoreTrigger,
    ScoreView,
    ScoringModelDetail,
    ScoringModelView,
    UnscorableView,
)

if TYPE_CHECKING:
    from xinyong.scoring.boosting import BoostedModel
    from xinyong.scoring.scorecard import WoeScorecard

SCORE_CONTEXT = b"subject_score.content"
VALIDATION_FORMAT = "xinyong.scoring.validation"
VALIDATION_VERSION = 1
TARGET_TYPE = "scoring_model"

# Where each status may go next.
ALLOWED_TRANSITIONS: dict[ModelStatus, tuple[ModelStatus, ...]] = {
    ModelStatus.DRAFT: (ModelStatus.VALIDATED, ModelStatus.RETIRED),
    ModelStatus.VALIDATED: (ModelStatus.APPROVED, ModelStatus.RETIRED),
    ModelStatus.APPROVED: (ModelStatus.CHAMPION, ModelStatus.RETIRED),
    ModelStatus.CHAMPION: (ModelStatus.RETIRED,),
    ModelStatus.RETIRED: (),
}

_NAME = re.compile(MODEL_NAME_PATTERN)


# --- errors -------------------------------------------------------------------------------------


class ModelNotFoundError(NotFoundError):
    code = "model_not_found"
    title = "Model not found"


class ModelTransitionError(ConflictError):
    """The model's status does not allow the requested move; ``allowed`` lists what does."""

    code = "model_transition_not_allowed"
    title = "Model transition not allowed"


class ChampionKindError(ConflictError):
    code = "champion_must_be_scorecard"
    title = "Only a scorecard can be champion"


class ModelAlreadyRegisteredError(ConflictError):
    code = "model_already_registered"
    title = "Model already registered"


class RegistryConflictError(ConflictError):
    """A concurrent change won the race (PostgreSQL): the whole action may be retried."""

    code = "model_registry_conflict"
    title = "The registry changed meanwhile"


class InvalidModelError(XinyongError):
    code = "invalid_model"
    title = "The model cannot be registered"


class InvalidValidationReportError(XinyongError):
    code = "invalid_validation_report"
    title = "Invalid validation report"


class ReasonRequiredError(XinyongError):
    status = 422
    code = "reason_required"
    title = "A reason is required"


class ModelRoleError(PermissionDeniedError):
    code = "role_not_permitted"
    title = "Your role may not do this"


class InvalidScoreError(XinyongError):
    code = "invalid_score"
    title = "The score cannot be recorded"


# --- helpers ------------------------------------------------------------------------------------


def _require_operator(principal: Principal) -> None:
    if principal.role is not Role.OPERATOR:
        raise ModelRoleError(
            f"the {principal.role.value} role may not change the model registry; allowed: operator",
            role=principal.role.value,
            allowed_roles=[Role.OPERATOR.value],
        )


def _require_reason(reason: str | None) -> str:
    cleaned = (reason or "").strip()
    if not cleaned:
        raise ReasonRequiredError("a reason is required: say why")
    if len(cleaned) > MAX_REASON:
        raise ReasonRequiredError(f"a reason has at most {MAX_REASON} characters")
    return cleaned


def _segment(value: str) -> ModelSegment:
    try:
        return ModelSegment(value)
    except ValueError:
        raise InvalidModelError(
            f"unknown segment {value!r}; known: "
            + ", ".join(segment.value for segment in ModelSegment),
            segment=value,
        ) from None


def _status(value: str) -> ModelStatus:
    try:
        return ModelStatus(value)
    except ValueError:
        raise InvalidModelError(
            f"unknown model status {value!r}; known: "
            + ", ".join(status.value for status in ModelStatus),
            status=value,
        ) from None


def artifact_text(artifact: Mapping[str, Any]) -> str:
    """The artifact as ``model.save()`` writes it: the text the registry stores and digests.

    A file written by ``save()`` and read with :func:`json.loads` gives back the same text,
    so its ``sha256sum`` equals the registered ``artifact_digest``.
    """
    try:
        return json.dumps(artifact, ensure_ascii=False, indent=1, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ModelArtifactError(f"the artifact is not a JSON document: {exc}") from exc


def _digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def _model_from_document(document: Mapping[str, Any]) -> WoeScorecard | BoostedModel:
    """Load a fitted model from an artifact document, as ``load_model`` loads a file."""
    from xinyong.scoring.boosting import BoostedModel
    from xinyong.scoring.scorecard import WoeScorecard

    if document.get("format") != ARTIFACT_FORMAT:
        raise ModelArtifactError("the document is not a Xinyong model artifact")
    if document.get("version") != ARTIFACT_VERSION:
        raise ModelArtifactError(
            f"the artifact has version {document.get('version')}; "
            f"this release reads version {ARTIFACT_VERSION}"
        )
    kind = document.get("kind")
    if kind not in (WoeScorecard.KIND, BoostedModel.KIND):
        raise ModelArtifactError(
            f"the artifact holds an unknown model kind {kind!r}; known: "
            f"{WoeScorecard.KIND}, {BoostedModel.KIND}"
        )
    try:
        if kind == WoeScorecard.KIND:
            return WoeScorecard.from_artifact(document)
        return BoostedModel.from_artifact(document)
    except XinyongError:
        raise
    except Exception as exc:  # a malformed body: KeyError, TypeError, LightGBM's errors …
        raise ModelArtifactError(
            f"the {kind} artifact cannot be loaded: {type(exc).__name__}: {exc}"
        ) from exc


# Fitted models by artifact digest: loading (above all a LightGBM booster) is not free.
_CACHE_SIZE = 8
_cache: OrderedDict[str, WoeScorecard | BoostedModel] = OrderedDict()
_cache_lock = threading.Lock()


def _remember(digest: str, fitted: WoeScorecard | BoostedModel) -> None:
    with _cache_lock:
        _cache[digest] = fitted
        _cache.move_to_end(digest)
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)


def load_registered(model: ScoringModel) -> WoeScorecard | BoostedModel:
    """The fitted model a registered artifact holds, cached by artifact digest.

    The stored text is checked against its digest first. The object returned is shared
    between callers: score with it, never refit or change it.
    """
    with _cache_lock:
        cached = _cache.get(model.artifact_digest)
        if cached is not None:
            _cache.move_to_end(model.artifact_digest)
            return cached
    if _digest(model.artifact) != model.artifact_digest:
        raise ModelArtifactError(
            f"the stored artifact of model {model.id} does not match its digest "
            f"{model.artifact_digest}"
        )
    try:
        document = json.loads(model.artifact)
    except ValueError as exc:
        raise ModelArtifactError(f"the stored artifact of model {model.id} is not JSON") from exc
    fitted = _model_from_document(document)
    _remember(model.artifact_digest, fitted)
    return fitted


def _event(
    session: Session,
    model: ScoringModel,
    principal: Principal,
    from_status: ModelStatus | None,
    to_status: ModelStatus,
    reason: str | None,
) -> ModelEvent:
    event = ModelEvent(
        model_id=model.id,
        from_status=from_status.value if from_status is not None else None,
        to_status=to_status.value,
        actor=principal.label,
        role=principal.role.value,
        reason=reason,
    )
    session.add(event)
    return event


def _describe(model: ScoringModel) -> str:
    return f"model {model.id} ({model.name} v{model.version})"


def _check_transition(model: ScoringModel, to_status: ModelStatus, verb: str) -> ModelStatus:
    """The model's current status, if its lifecycle lets it become ``to_status``."""
    current = ModelStatus(model.status)
    allowed = ALLOWED_TRANSITIONS[current]
    if to_status not in allowed:
        options = (
            "may only become " + " or ".join(status.value for status in allowed)
            if allowed
            else "is final"
        )
        raise ModelTransitionError(
            f"cannot {verb} {_describe(model)} from {current.value} to {to_status.value}: "
            f"a {current.value} model {options}",
            model_id=model.id,
            from_status=current.value,
            to_status=to_status.value,
            allowed=[status.value for status in allowed],
        )
    return current


def _move(
    session: Session,
    model: ScoringModel,
    to_status: ModelStatus,
    principal: Principal,
    action: StaffAction,
    *,
    verb: str,
    reason: str | None,
    details: dict[str, Any] | None = None,
) -> None:
    """Move ``model`` to ``to_status`` if its lifecycle allows it; event and audit entry."""
    current = _check_transition(model, to_status, verb)
    model.status = to_status.value
    # Flushed on its own: the partial unique index on champions is checked per statement.
    session.flush()
    _event(session, model, principal, current, to_status, reason)
    record_staff_action(
        session,
        principal,
        action,
        target_type=TARGET_TYPE,
        target_id=model.id,
        reason=reason,
        details={
            "name": model.name,
            "version": model.version,
            "segment": model.segment,
            "from_status": current.value,
            "to_status": to_status.value,
            **(details or {}),
        },
    )


def _locked(session: Session, model_id: int) -> ScoringModel:
    """The model, locked for update (PostgreSQL; SQLite's writer lock already serialises)."""
    model = session.get(ScoringModel, model_id, with_for_update=True, populate_existing=True)
    if model is None:
        raise ModelNotFoundError(f"model {model_id} does not exist", model_id=model_id)
    return model


def _check_validation(model: ScoringModel, validation: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(validation, Mapping):
        raise InvalidValidationReportError("a validation report is a JSON object")
    if validation.get("format") != VALIDATION_FORMAT:
        raise InvalidValidationReportError(
            f"the document is not a validation report (format {VALIDATION_FORMAT!r} expected); "
            "write one with xinyong.scoring.validation.validate_model(...).to_json()"
        )
    if validation.get("version") != VALIDATION_VERSION:
        raise InvalidValidationReportError(
            f"the validation report has version {validation.get('version')}; "
            f"this release reads version {VALIDATION_VERSION}"
        )
    digest = validation.get("training_digest")
    if digest is not None and digest != model.training_digest:
        raise InvalidValidationReportError(
            f"the validation report is of another model: its training digest {digest} is not "
            f"{model.training_digest}, that of {_describe(model)}",
            training_digest=digest,
        )
    kind = validation.get("model_kind")
    if kind is not None and kind != model.kind:
        raise InvalidValidationReportError(
            f"the validation report is of a {kind} model; {_describe(model)} is {model.kind}"
        )
    try:
        return dict(json.loads(json.dumps(validation, allow_nan=False)))
    except (TypeError, ValueError) as exc:
        raise InvalidValidationReportError(
            f"the validation report is not a JSON document: {exc}"
        ) from exc


def _validation_summary(validation: Mapping[str, Any]) -> str:
    figures = [
        f"{label} {validation[key]:.3f}" if isinstance(validation.get(key), float) else None
        for key, label in (("auc", "AUC"), ("ks", "KS"), ("psi", "PSI"))
    ]
    shown = ", ".join(figure for figure in figures if figure)
    rows = validation.get("n")
    on = f" on {rows} rows" if isinstance(rows, int) else ""
    return f"validation report attached: {shown or 'no figures'}{on}"


def _attach(
    session: Session, model: ScoringModel, validation: Mapping[str, Any], principal: Principal
) -> None:
    _check_transition(model, ModelStatus.VALIDATED, "validate")
    checked = _check_validation(model, validation)
    model.validation = checked
    _move(
        session,
        model,
        ModelStatus.VALIDATED,
        principal,
        StaffAction.MODEL_VALIDATE,
        verb="validate",
        reason=_validation_summary(checked),
        details={"validation_generated_at": checked.get("generated_at")},
    )


# --- registration and lifecycle -----------------------------------------------------------------


def register_model(
    session: Session,
    *,
    name: str,
    segment: str,
    artifact: Mapping[str, Any],
    created_by: str,
    feature_set: str | None = None,
    validation: Mapping[str, Any] | None = None,
    principal: Principal | None = None,
) -> ScoringModel:
    """Register a fitted model's artifact as the next version of ``name``, in status draft.

    The artifact must load as a model (as ``xinyong.scoring.load_model`` would load its
    file). With ``validation`` (a validation report's ``to_dict()``) the model moves on to
    validated. ``principal`` is who acts (an operator); by default the local operator
    labelled ``created_by``. The same artifact may not be registered twice while an earlier
    registration of it is not retired.
    """
    if principal is None:
        principal = Principal(
            api_key_id=None,
            role=Role.OPERATOR,
            institution_id=None,
            institution_code=None,
            label=created_by,
        )
    _require_operator(principal)
    if not _NAME.match(name) or len(name) > MAX_MODEL_NAME:
        raise InvalidModelError(
            f"a model name is 1 to {MAX_MODEL_NAME} lower-case letters, digits, '.', '_' or "
            f"'-', starting with a letter or digit; not {name!r}",
            name=name,
        )
    chosen = _segment(segment)
    if feature_set is not None and not (0 < len(feature_set.strip()) <= MAX_FEATURE_SET):
        raise InvalidModelError(f"a feature set name has 1 to {MAX_FEATURE_SET} characters")
    fitted = _model_from_document(artifact)
    text = artifact_text(artifact)
    digest = _digest(text)
    existing = session.scalar(
        select(ScoringModel)
        .where(
            ScoringModel.artifact_digest == digest,
            ScoringModel.status != ModelStatus.RETIRED.value,
        )
        .limit(1)
    )
    if existing is not None:
        raise ModelAlreadyRegisteredError(
            f"this artifact is registered already as {_describe(existing)}, {existing.status}",
            model_id=existing.id,
        )
    latest = session.scalar(select(func.max(ScoringModel.version)).where(ScoringModel.name == name))
    model = ScoringModel(
        name=name,
        version=(latest or 0) + 1,
        kind=str(artifact["kind"]),
        segment=chosen.value,
        status=ModelStatus.DRAFT.value,
        artifact=text,
        artifact_digest=digest,
        training_digest=str(artifact.get("training_digest", "")),
        feature_set=feature_set.strip() if feature_set is not None else None,
        created_by=created_by,
    )
    session.add(model)
    try:
        session.flush()
    except IntegrityError as exc:
        # Another registration of the same name took this version first (PostgreSQL).
        raise RegistryConflictError(
            f"{name} v{(latest or 0) + 1} was registered meanwhile; register again"
        ) from exc
    _event(session, model, principal, None, ModelStatus.DRAFT, None)
    record_staff_action(
        session,
        principal,
        StaffAction.MODEL_REGISTER,
        target_type=TARGET_TYPE,
        target_id=model.id,
        details={
            "name": model.name,
            "version": model.version,
            "segment": model.segment,
            "kind": model.kind,
            "artifact_digest": model.artifact_digest,
            "feature_set": model.feature_set,
        },
    )
    _remember(digest, fitted)
    if validation is not None:
        _attach(session, model, validation, principal)
    session.flush()
    return model


def attach_validation(
    session: Session, model_id: int, validation: Mapping[str, Any], principal: Principal
) -> ScoringModel:
    """Attach a validation report to a draft model, which becomes validated."""
    _require_operator(principal)
    model = _locked(session, model_id)
    _attach(session, model, validation, principal)
    session.flush()
    return model


def approve(session: Session, model_id: int, principal: Principal, reason: str) -> ScoringModel:
    """Approve a validated model for use (operator; the reason is kept)."""
    _require_operator(principal)
    reason = _require_reason(reason)
    model = _locked(session, model_id)
    _move(
        session,
        model,
        ModelStatus.APPROVED,
        principal,
        StaffAction.MODEL_APPROVE,
        verb="approve",
        reason=reason,
    )
    session.flush()
    return model


def promote(session: Session, model_id: int, principal: Principal, reason: str) -> ScoringModel:
    """Make an approved model its segment's champion; the previous champion is retired."""
    _require_operator(principal)
    reason = _require_reason(reason)
    model = _locked(session, model_id)
    # Refused before the previous champion is touched.
    _check_transition(model, ModelStatus.CHAMPION, "promote")
    if model.kind != "woe_scorecard":
        # Every score served must come with its key factors (RULES.md 24); only a scorecard
        # has per-characteristic points to draw them from. A challenger stays approved.
        raise ChampionKindError(
            f"{_describe(model)} is a {model.kind} model; only a WOE scorecard can be champion, "
            "because every score must give its key factors",
            kind=model.kind,
        )
    previous = session.scalar(
        select(ScoringModel)
        .where(
            ScoringModel.segment == model.segment,
            ScoringModel.status == ModelStatus.CHAMPION.value,
        )
        .with_for_update()
    )
    if previous is not None:
        note = f"replaced as {model.segment} champion by {_describe(model)}: {reason}"
        _move(
            session,
            previous,
            ModelStatus.RETIRED,
            principal,
            StaffAction.MODEL_RETIRE,
            verb="retire",
            reason=note[:MAX_REASON],
            details={"replaced_by": model.id},
        )
    segment = model.segment  # the failed flush below would expire it
    try:
        _move(
            session,
            model,
            ModelStatus.CHAMPION,
            principal,
            StaffAction.MODEL_PROMOTE,
            verb="promote",
            reason=reason,
            details={"replaces": previous.id if previous is not None else None},
        )
    except IntegrityError as exc:
        # Another promotion in this segment committed meanwhile (PostgreSQL).
        raise RegistryConflictError(
            f"another model became {segment} champion meanwhile; check the registry "
            "and promote again if still wanted"
        ) from exc
    session.flush()
    return model


def retire(session: Session, model_id: int, principal: Principal, reason: str) -> ScoringModel:
    """Retire a model from any status but retired; a retired champion leaves none."""
    _require_operator(principal)
    reason = _require_reason(reason)
    model = _locked(session, model_id)
    _move(
        session,
        model,
        ModelStatus.RETIRED,
        principal,
        StaffAction.MODEL_RETIRE,
        verb="retire",
        reason=reason,
    )
    session.flush()
    return model


# --- reading ------------------------------------------------------------------------------------


def get_model(session: Session, model_id: int) -> ScoringModel:
    model = session.get(ScoringModel, model_id)
    if model is None:
        raise ModelNotFoundError(f"model {model_id} does not exist", model_id=model_id)
    return model


def champion(session: Session, segment: str) -> ScoringModel | None:
    """The segment's champion: the model that scores its subjects, if one is promoted."""
    return session.scalar(
        select(ScoringModel).where(
            ScoringModel.segment == _segment(segment).value,
            ScoringModel.status == ModelStatus.CHAMPION.value,
        )
    )


def list_models(
    session: Session, *, segment: str | None = None, status: str | None = None
) -> Sequence[ScoringModel]:
    """Registered models, newest first, optionally of one segment and status."""
    query = select(ScoringModel).order_by(ScoringModel.id.desc())
    if segment is not None:
        query = query.where(ScoringModel.segment == _segment(segment).value)
    if status is not None:
        query = query.where(ScoringModel.status == _status(status).value)
    return session.scalars(query).all()


def model_history(session: Session, model_id: int) -> list[ModelEvent]:
    """The model's events, oldest first: registration, then each transition."""
    get_model(session, model_id)
    return list(
        session.scalars(
            select(ModelEvent)
            .where(ModelEvent.model_id == model_id)
            .order_by(ModelEvent.occurred_at, ModelEvent.id)
        )
    )


def view_model(model: ScoringModel) -> ScoringModelView:
    return ScoringModelView(
        id=model.id,
        name=model.name,
        version=model.version,
        kind=ModelKind(model.kind),
        segment=ModelSegment(model.segment),
        status=ModelStatus(model.status),
        artifact_digest=model.artifact_digest,
        training_digest=model.training_digest,
        feature_set=model.feature_set,
        validation=model.validation,
        created_at=model.created_at,
        created_by=model.created_by,
    )


def view_event(event: ModelEvent) -> ModelEventView:
    return ModelEventView(
        id=event.id,
        model_id=event.model_id,
        from_status=ModelStatus(event.from_status) if event.from_status is not None else None,
        to_status=ModelStatus(event.to_status),
        actor=event.actor,
        role=event.role,
        reason=event.reason,
        occurred_at=event.occurred_at,
    )


def view_model_detail(
    session: Session, model: ScoringModel, *, with_artifact: bool = False
) -> ScoringModelDetail:
    """The model with its history and, if asked for, its artifact."""
    return ScoringModelDetail(
        **view_model(model).model_dump(),
        events=[view_event(event) for event in model_history(session, model.id)],
        artifact=json.loads(model.artifact) if with_artifact else None,
    )


# --- score history ------------------------------------------------------------------------------


def _score_content(result: ScoreResult | Unscorable) -> tuple[ScoreOutcome, dict[str, Any]]:
    if isinstance(result, ScoreResult):
        return ScoreOutcome.SCORED, {
            "score": float(result.score),
            "points": {name: float(value) for name, value in result.points.items()},
            "reasons": [asdict(reason) for reason in result.reasons],
        }
    if isinstance(result, Unscorable):
        return ScoreOutcome.UNSCORABLE, {"unscorable": asdict(result)}
    raise InvalidScoreError(f"a score result is a ScoreResult or Unscorable, not {type(result)}")


def record_score(
    session: Session,
    keys: KeyRing,
    *,
    subject_id: int,
    model: ScoringModel,
    as_of: date,
    result: ScoreResult | Unscorable,
    trigger: str,
) -> SubjectScore:
    """Record one score (or unscorable outcome) of a subject, encrypted, in its history.

    The caller chooses the model (normally ``champion(session, segment_of(subject.kind))``);
    it must be of the subject's segment.
    """
    try:
        chosen = ScoreTrigger(trigger)
    except ValueError:
        raise InvalidScoreError(
            f"unknown score trigger {trigger!r}; known: "
            + ", ".join(item.value for item in ScoreTrigger)
        ) from None
    subject = get_subject(session, subject_id)
    if segment_of(subject.kind) != model.segment:
        raise InvalidScoreError(
            f"{_describe(model)} scores the {model.segment} segment, not subjects of kind "
            f"{subject.kind}"
        )
    outcome, content = _score_content(result)
    plaintext = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    score = SubjectScore(
        subject_id=subject.id,
        model_id=model.id,
        as_of=as_of,
        computed_at=utcnow(),
        trigger=chosen.value,
        outcome=outcome.value,
        content_ct=keys.encrypt(plaintext.encode("utf-8"), SCORE_CONTEXT),
    )
    session.add(score)
    session.flush()
    return score


def view_score(
    keys: KeyRing, score: SubjectScore, model_name: str, model_version: int
) -> ScoreView:
    content = json.loads(keys.decrypt(score.content_ct, SCORE_CONTEXT))
    unscorable = content.get("unscorable")
    return ScoreView(
        id=score.id,
        subject_id=score.subject_id,
        model_id=score.model_id,
        model_name=model_name,
        model_version=model_version,
        as_of=score.as_of,
        computed_at=score.computed_at,
        trigger=ScoreTrigger(score.trigger),
        outcome=ScoreOutcome(score.outcome),
        score=content.get("score"),
        points=content.get("points"),
        reasons=[ReasonView(**reason) for reason in content.get("reasons", [])],
        unscorable=UnscorableView(**unscorable) if unscorable is not None else None,
    )


def score_history(
    session: Session, keys: KeyRing, subject_id: int, *, limit: int | None = None
) -> list[ScoreView]:
    """A subject's scores, newest first, each with the model (name, version) that made it."""
    query = (
        select(SubjectScore, ScoringModel.name, ScoringModel.version)
        .join(ScoringModel, ScoringModel.id == SubjectScore.model_id)
        .where(SubjectScore.subject_id == subject_id)
        .order_by(SubjectScore.computed_at.desc(), SubjectScore.id.desc())
    )
    if limit is not None:
        query = query.limit(limit)
    return [
        view_score(keys, score, name, version) for score, name, version in session.execute(query)
    ]

"""The model registry and score history, through the service (both database backends)."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from scoring.conftest import synthetic_credit
from scoring.registry_helpers import (
    AUDITOR,
    OPERATOR,
    artifact,
    artifact_file,
    booster,
    card,
    enterprise,
    model_in,
    person,
    register,
    validation,
)
from xinyong.audit.models import AuditEntry
from xinyong.db import ImmutableRowError, transaction
from xinyong.errors import XinyongError
from xinyong.identity.crypto import DecryptionError, KeyRing
from xinyong.scoring import ModelArtifactError, Unscorable, score_subject
from xinyong.scoring.models import ScoringModel, SubjectScore, segment_of
from xinyong.scoring.reasons import ScoreResult
from xinyong.scoring.registry import (
    ALLOWED_TRANSITIONS,
    SCORE_CONTEXT,
    InvalidModelError,
    InvalidScoreError,
    InvalidValidationReportError,
    ModelAlreadyRegisteredError,
    ModelNotFoundError,
    ModelRoleError,
    ModelTransitionError,
    ReasonRequiredError,
    approve,
    attach_validation,
    champion,
    get_model,
    list_models,
    load_registered,
    model_history,
    promote,
    record_score,
    register_model,
    retire,
    score_history,
)
from xinyong.scoring.schemas import ModelStatus


def audit_actions(session: Session, model_id: int) -> list[str]:
    entries = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.target_type == "scoring_model", AuditEntry.target_id == str(model_id))
        .order_by(AuditEntry.id)
    )
    return [entry.action for entry in entries]


def transitions(session: Session, model_id: int) -> list[tuple[str | None, str]]:
    return [(e.from_status, e.to_status) for e in model_history(session, model_id)]


# --- registration -------------------------------------------------------------------------------


def test_register_makes_version_one_a_draft_with_an_event_and_an_audit_entry(
    session: Session, tmp_path: Path
) -> None:
    model = register(session, 1)
    assert (model.name, model.version, model.status) == ("person-scorecard", 1, "draft")
    assert (model.kind, model.segment) == ("woe_scorecard", "person")
    assert model.training_digest == card(1).training_digest_
    assert model.created_by == "alice"
    assert model.validation is None
    # The stored text is the artifact as save() writes it: its digest is the file's sha256.
    saved = artifact_file(tmp_path, 1).read_bytes()
    assert model.artifact_digest == "sha256:" + hashlib.sha256(saved).hexdigest()
    assert model.artifact.encode("utf-8") == saved

    (event,) = model_history(session, model.id)
    assert (event.from_status, event.to_status, event.actor, event.role) == (
        None,
        "draft",
        "alice",
        "operator",
    )
    (entry,) = session.scalars(select(AuditEntry)).all()
    assert (entry.action, entry.target_type, entry.target_id) == (
        "model.register",
        "scoring_model",
        str(model.id),
    )
    assert entry.details["artifact_digest"] == model.artifact_digest


def test_versions_count_up_per_name(session: Session) -> None:
    first = register(session, 1)
    second = register(session, 2)
    other = register(session, 3, name="enterprise-scorecard", segment="enterprise")
    assert [first.version, second.version, other.version] == [1, 2, 1]


def test_register_with_a_validation_report_moves_on_to_validated(session: Session) -> None:
    report = validation(1)
    model = register_model(
        session,
        name="person-scorecard",
        segment="person",
        artifact=artifact(1),
        created_by="cli",
        feature_set="person-features/1",
        validation=report,
    )
    assert model.status == "validated"
    assert model.feature_set == "person-features/1"
    assert model.validation == report
    assert transitions(session, model.id) == [(None, "draft"), ("draft", "validated")]
    assert audit_actions(session, model.id) == ["model.register", "model.validate"]
    # Without a principal, the local operator labelled created_by acts.
    assert {event.actor for event in model_history(session, model.id)} == {"cli"}


def test_a_lightgbm_artifact_registers_and_loads(session: Session) -> None:
    model = register_model(
        session,
        name="person-lightgbm",
        segment="person",
        artifact=artifact(1, kind="booster"),
        created_by="cli",
    )
    assert model.kind == "lightgbm"
    X, _ = synthetic_credit(rows=50, seed=5)
    assert list(load_registered(model).score(X)) == list(booster(1).score(X))


def test_a_lightgbm_challenger_can_be_approved_but_never_champion(session: Session) -> None:
    from xinyong.scoring.registry import approve, promote
    from xinyong.scoring.validation import validate_model

    X, y = synthetic_credit(rows=300, seed=1001)
    model = register_model(
        session,
        name="person-lightgbm",
        segment="person",
        artifact=artifact(1, kind="booster"),
        created_by="cli",
        validation=validate_model(booster(1), X, y).to_dict(),
    )
    approve(session, model.id, OPERATOR, "challenger figures reviewed")
    with pytest.raises(XinyongError) as caught:
        promote(session, model.id, OPERATOR, "more accurate")
    assert caught.value.code == "champion_must_be_scorecard"
    assert caught.value.status == 409
    assert "key factors" in caught.value.detail
    assert model.status == "approved"


def _broken(change: str) -> dict[str, Any]:
    document = artifact(1)
    if change == "format":
        document["format"] = "something.else"
    elif change == "version":
        document["version"] = 99
    elif change == "kind":
        document["kind"] = "neural_net"
    elif change == "body":
        del document["characteristics"]
    return document


@pytest.mark.parametrize("change", ["format", "version", "kind", "body"])
def test_an_invalid_artifact_is_refused_and_nothing_is_written(
    session: Session, change: str
) -> None:
    with pytest.raises(ModelArtifactError) as caught:
        register_model(
            session,
            name="person-scorecard",
            segment="person",
            artifact=_broken(change),
            created_by="cli",
        )
    assert caught.value.code == "invalid_model_artifact"
    assert session.scalars(select(ScoringModel)).all() == []
    assert session.scalars(select(AuditEntry)).all() == []


@pytest.mark.parametrize(
    ("name", "segment"),
    [("Person Scorecard", "person"), ("", "person"), ("x" * 101, "person"), ("ok", "martian")],
)
def test_a_bad_name_or_segment_is_refused(session: Session, name: str, segment: str) -> None:
    with pytest.raises(InvalidModelError):
        register_model(session, name=name, segment=segment, artifact=artifact(1), created_by="cli")


def test_the_same_artifact_is_not_registered_twice_until_retired(session: Session) -> None:
    first = register(session, 1)
    with pytest.raises(ModelAlreadyRegisteredError) as caught:
        register(session, 1, name="another-name")
    assert caught.value.status == 409
    assert caught.value.extensions["model_id"] == first.id
    retire(session, first.id, OPERATOR, "registered by mistake")
    again = register(session, 1)
    assert (again.version, again.status) == (2, "draft")


def test_only_an_operator_changes_the_registry(session: Session) -> None:
    model = register(session, 1)
    for act in (
        lambda: attach_validation(session, model.id, validation(1), AUDITOR),
        lambda: approve(session, model.id, AUDITOR, "why not"),
        lambda: promote(session, model.id, AUDITOR, "why not"),
        lambda: retire(session, model.id, AUDITOR, "why not"),
        lambda: register_model(
            session,
            name="x",
            segment="person",
            artifact=artifact(2),
            created_by="bob",
            principal=AUDITOR,
        ),
    ):
        with pytest.raises(ModelRoleError) as caught:
            act()
        assert (caught.value.status, caught.value.code) == (403, "role_not_permitted")
    assert get_model(session, model.id).status == "draft"
    assert len(list_models(session)) == 1


# --- the lifecycle ------------------------------------------------------------------------------


def test_the_whole_lifecycle(session: Session) -> None:
    model = register(session, 1)
    attach_validation(session, model.id, validation(1), OPERATOR)
    assert model.validation is not None
    assert model.validation["training_digest"] == model.training_digest
    approve(session, model.id, OPERATOR, "  AUC and PSI reviewed by the risk committee  ")
    assert champion(session, "person") is None
    promote(session, model.id, OPERATOR, "first champion")
    assert champion(session, "person") is model
    retire(session, model.id, OPERATOR, "superseded by policy change")
    assert champion(session, "person") is None

    events = model_history(session, model.id)
    assert [(e.from_status, e.to_status) for e in events] == [
        (None, "draft"),
        ("draft", "validated"),
        ("validated", "approved"),
        ("approved", "champion"),
        ("champion", "retired"),
    ]
    assert events[1].reason is not None
    assert events[1].reason.startswith("validation report attached: AUC ")
    assert [e.reason for e in events[2:]] == [
        "AUC and PSI reviewed by the risk committee",
        "first champion",
        "superseded by policy change",
    ]
    assert all((e.actor, e.role) == ("alice", "operator") for e in events)
    assert audit_actions(session, model.id) == [
        "model.register",
        "model.validate",
        "model.approve",
        "model.promote",
        "model.retire",
    ]
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "model.approve")).one()
    assert entry.reason == "AUC and PSI reviewed by the risk committee"
    assert entry.details["from_status"] == "validated"
    assert entry.details["to_status"] == "approved"


ACTIONS = {
    "validate": lambda s, m: attach_validation(s, m.id, validation(m.version), OPERATOR),
    "approve": lambda s, m: approve(s, m.id, OPERATOR, "a reason"),
    "promote": lambda s, m: promote(s, m.id, OPERATOR, "a reason"),
    "retire": lambda s, m: retire(s, m.id, OPERATOR, "a reason"),
}
TARGETS = {
    "validate": "validated",
    "approve": "approved",
    "promote": "champion",
    "retire": "retired",
}
REFUSED = [
    (status.value, action)
    for status in ModelStatus
    for action, target in TARGETS.items()
    if ModelStatus(target) not in ALLOWED_TRANSITIONS[status]
]


def test_the_refused_cases_are_the_expected_ones() -> None:
    assert sorted(REFUSED) == sorted(
        [
            ("draft", "approve"),
            ("draft", "promote"),
            ("validated", "validate"),
            ("validated", "promote"),
            ("approved", "validate"),
            ("approved", "approve"),
            ("champion", "validate"),
            ("champion", "approve"),
            ("champion", "promote"),
            ("retired", "validate"),
            ("retired", "approve"),
            ("retired", "promote"),
            ("retired", "retire"),
        ]
    )


@pytest.mark.parametrize(("status", "action"), REFUSED, ids=[f"{s}-{a}" for s, a in REFUSED])
def test_every_refused_transition(session: Session, status: str, action: str) -> None:
    # Seed 1 gives version 1, whose validation report matches (ACTIONS uses the version).
    model = model_in(session, status, 1)
    events_before = transitions(session, model.id)
    audit_before = audit_actions(session, model.id)
    with pytest.raises(ModelTransitionError) as caught:
        ACTIONS[action](session, model)
    error = caught.value
    assert (error.status, error.code) == (409, "model_transition_not_allowed")
    assert error.extensions["from_status"] == status
    assert error.extensions["to_status"] == TARGETS[action]
    allowed = [s.value for s in ALLOWED_TRANSITIONS[ModelStatus(status)]]
    assert error.extensions["allowed"] == allowed
    assert f"from {status} to {TARGETS[action]}: a {status} model" in error.detail
    assert (" or ".join(allowed) if allowed else "is final") in error.detail
    assert get_model(session, model.id).status == status
    assert transitions(session, model.id) == events_before
    assert audit_actions(session, model.id) == audit_before


def test_promotion_retires_the_previous_champion_of_the_segment_only(session: Session) -> None:
    old = model_in(session, "champion", 1)
    rival = model_in(session, "champion", 3, name="enterprise-scorecard", segment="enterprise")
    new = model_in(session, "approved", 2)
    promote(session, new.id, OPERATOR, "higher Gini on the recent sample")

    assert champion(session, "person") is new
    assert champion(session, "enterprise") is rival
    assert (old.status, new.status, rival.status) == ("retired", "champion", "champion")
    last = model_history(session, old.id)[-1]
    assert (last.from_status, last.to_status) == ("champion", "retired")
    assert last.reason is not None
    assert f"model {new.id} (person-scorecard v2)" in last.reason
    assert "higher Gini on the recent sample" in last.reason
    retirement = session.scalars(
        select(AuditEntry).where(
            AuditEntry.action == "model.retire", AuditEntry.target_id == str(old.id)
        )
    ).one()
    assert retirement.details["replaced_by"] == new.id
    promotion = session.scalars(
        select(AuditEntry).where(
            AuditEntry.action == "model.promote", AuditEntry.target_id == str(new.id)
        )
    ).one()
    assert promotion.details["replaces"] == old.id
    champions = list_models(session, status="champion")
    assert sorted(m.segment for m in champions) == ["enterprise", "person"]


def test_a_refused_promotion_leaves_the_champion_alone(session: Session) -> None:
    old = model_in(session, "champion", 1)
    draft = model_in(session, "draft", 2)
    with pytest.raises(ModelTransitionError):
        promote(session, draft.id, OPERATOR, "too early")
    assert champion(session, "person") is old
    assert transitions(session, old.id)[-1] == ("approved", "champion")


def test_the_database_holds_one_champion_per_segment(session: Session) -> None:
    first = model_in(session, "champion", 1)
    second = model_in(session, "approved", 2)
    third = model_in(session, "approved", 3)
    # Many approved models of one segment are fine; a second champion is not.
    assert {second.status, third.status} == {"approved"}
    session.commit()
    with pytest.raises(IntegrityError):
        session.execute(
            update(ScoringModel).where(ScoringModel.id == second.id).values(status="champion")
        )
    session.rollback()
    assert champion(session, "person") == get_model(session, first.id)


@pytest.mark.parametrize("reason", ["", "   ", "\n\t"])
def test_a_blank_reason_is_refused(session: Session, reason: str) -> None:
    model = model_in(session, "approved", 1)
    for act in (approve, promote, retire):
        with pytest.raises(ReasonRequiredError) as caught:
            act(session, model.id, OPERATOR, reason)
        assert (caught.value.status, caught.value.code) == (422, "reason_required")
    assert model.status == "approved"


def test_an_unknown_model_is_not_found(session: Session) -> None:
    for act in (
        lambda: get_model(session, 987654),
        lambda: model_history(session, 987654),
        lambda: approve(session, 987654, OPERATOR, "x"),
        lambda: promote(session, 987654, OPERATOR, "x"),
        lambda: retire(session, 987654, OPERATOR, "x"),
        lambda: attach_validation(session, 987654, validation(1), OPERATOR),
    ):
        with pytest.raises(ModelNotFoundError) as caught:
            act()
        assert (caught.value.status, caught.value.code) == (404, "model_not_found")


def test_a_validation_report_must_be_of_this_model(session: Session) -> None:
    model = register(session, 1)
    with pytest.raises(InvalidValidationReportError, match="another model"):
        attach_validation(session, model.id, validation(2), OPERATOR)
    with pytest.raises(InvalidValidationReportError, match="not a validation report"):
        attach_validation(session, model.id, artifact(1), OPERATOR)
    wrong_kind = {**validation(1), "model_kind": "lightgbm"}
    with pytest.raises(InvalidValidationReportError, match="lightgbm"):
        attach_validation(session, model.id, wrong_kind, OPERATOR)
    assert model.status == "draft"
    assert model.validation is None


def test_list_models_filters_by_segment_and_status(session: Session) -> None:
    a = model_in(session, "champion", 1)
    b = model_in(session, "draft", 2)
    c = model_in(session, "validated", 3, name="enterprise-scorecard", segment="enterprise")
    assert [m.id for m in list_models(session)] == [c.id, b.id, a.id]
    assert [m.id for m in list_models(session, segment="person")] == [b.id, a.id]
    assert [m.id for m in list_models(session, status="validated")] == [c.id]
    assert [m.id for m in list_models(session, segment="enterprise", status="draft")] == []
    with pytest.raises(InvalidModelError):
        list_models(session, status="lost")


def test_events_are_append_only(session: Session) -> None:
    model = register(session, 1)
    (event,) = model_history(session, model.id)
    event.reason = "rewritten history"
    with pytest.raises(ImmutableRowError):
        session.flush()
    session.rollback()


# --- loading ------------------------------------------------------------------------------------


def test_load_registered_gives_the_fitted_model_and_caches_it(session: Session) -> None:
    model = register(session, 1)
    fitted = load_registered(model)
    X, _ = synthetic_credit(rows=50, seed=5)
    assert list(fitted.score(X)) == list(card(1).score(X))
    assert load_registered(model) is fitted


def test_load_registered_checks_the_digest() -> None:
    text_ = json.dumps(artifact(4), ensure_ascii=False, indent=1)
    tampered = ScoringModel(
        id=1,
        artifact=text_.replace('"intercept": ', '"intercept": 1 + '),
        artifact_digest="sha256:" + hashlib.sha256(text_.encode()).hexdigest(),
    )
    with pytest.raises(ModelArtifactError, match="does not match its digest"):
        load_registered(tampered)


# --- score history ------------------------------------------------------------------------------


def test_segments() -> None:
    assert segment_of("person") == "person"
    assert segment_of("enterprise") == "enterprise"
    assert segment_of("other_organisation") == "enterprise"
    with pytest.raises(ValueError, match="martian"):
        segment_of("martian")


def _scored(seed: int = 1) -> ScoreResult:
    X, _ = synthetic_credit(rows=5, seed=42)
    result = score_subject(card(seed), X.iloc[0])
    assert isinstance(result, ScoreResult)
    assert result.reasons
    return result


UNSCORABLE = Unscorable("U_NO_DATA", "无可用于评分的信用信息", "No credit information", 0)


def test_score_history_round_trip(session: Session, keys: KeyRing) -> None:
    model = model_in(session, "champion", 1)
    subject_id = person(session, keys)
    result = _scored()
    first = record_score(
        session,
        keys,
        subject_id=subject_id,
        model=model,
        as_of=date(2026, 10, 31),
        result=result,
        trigger="report",
    )
    second = record_score(
        session,
        keys,
        subject_id=subject_id,
        model=model,
        as_of=date(2026, 11, 27),
        result=UNSCORABLE,
        trigger="batch",
    )
    assert (first.outcome, second.outcome) == ("scored", "unscorable")

    newest, oldest = score_history(session, keys, subject_id)
    assert (newest.id, oldest.id) == (second.id, first.id)
    assert (oldest.model_id, oldest.model_name, oldest.model_version) == (
        model.id,
        "person-scorecard",
        1,
    )
    assert (oldest.as_of, oldest.trigger.value, oldest.outcome.value) == (
        date(2026, 10, 31),
        "report",
        "scored",
    )
    assert oldest.score == result.score
    assert oldest.points == result.points
    assert [r.code for r in oldest.reasons] == [r.code for r in result.reasons]
    assert oldest.reasons[0].text_zh == result.reasons[0].text_zh
    assert oldest.reasons[0].points_lost == result.reasons[0].points_lost
    assert oldest.unscorable is None
    assert newest.score is None
    assert newest.reasons == []
    assert newest.unscorable is not None
    assert newest.unscorable.code == "U_NO_DATA"
    assert newest.unscorable.characteristics_present == 0
    assert [s.id for s in score_history(session, keys, subject_id, limit=1)] == [second.id]
    assert score_history(session, keys, person(session, keys)) == []


def test_a_score_is_never_stored_in_clear(session: Session, keys: KeyRing) -> None:
    model = model_in(session, "champion", 1)
    subject_id = person(session, keys)
    result = _scored()
    record_score(
        session,
        keys,
        subject_id=subject_id,
        model=model,
        as_of=date(2026, 11, 27),
        result=result,
        trigger="query",
    )
    session.flush()
    # As the database holds it: the other columns are ids, dates, the trigger and outcome.
    (raw,) = session.execute(text("SELECT content_ct FROM subject_scores")).scalars().all()
    stored = bytes(raw)
    for secret in (
        json.dumps(result.score),
        str(int(result.score)),
        '"score"',
        "reasons",
        result.reasons[0].code,
        result.reasons[0].characteristic,
        result.reasons[0].text_zh,
    ):
        assert secret.encode("utf-8") not in stored, secret
    (score,) = session.scalars(select(SubjectScore)).all()
    # Its own context: the ciphertext does not decrypt as any other column's.
    assert json.loads(keys.decrypt(score.content_ct, SCORE_CONTEXT))["score"] == result.score
    with pytest.raises(DecryptionError):
        keys.decrypt(score.content_ct, b"record.content")


def test_scores_are_append_only(session: Session, keys: KeyRing) -> None:
    model = model_in(session, "champion", 1)
    score = record_score(
        session,
        keys,
        subject_id=person(session, keys),
        model=model,
        as_of=date(2026, 11, 27),
        result=UNSCORABLE,
        trigger="query",
    )
    score.trigger = "rescore"
    with pytest.raises(ImmutableRowError):
        session.flush()
    session.rollback()


def test_a_score_needs_a_model_of_the_subjects_segment(session: Session, keys: KeyRing) -> None:
    persons = model_in(session, "champion", 1)
    enterprises = model_in(session, "champion", 2, name="ent-card", segment="enterprise")
    firm = enterprise(session, keys)
    with pytest.raises(InvalidScoreError, match="person segment"):
        record_score(
            session,
            keys,
            subject_id=firm,
            model=persons,
            as_of=date(2026, 11, 27),
            result=UNSCORABLE,
            trigger="query",
        )
    recorded = record_score(
        session,
        keys,
        subject_id=firm,
        model=enterprises,
        as_of=date(2026, 11, 27),
        result=UNSCORABLE,
        trigger="query",
    )
    assert recorded.model_id == enterprises.id
    with pytest.raises(InvalidScoreError, match="trigger"):
        record_score(
            session,
            keys,
            subject_id=firm,
            model=enterprises,
            as_of=date(2026, 11, 27),
            result=UNSCORABLE,
            trigger="whim",
        )
    with pytest.raises(XinyongError) as caught:
        record_score(
            session,
            keys,
            subject_id=987654,
            model=enterprises,
            as_of=date(2026, 11, 27),
            result=UNSCORABLE,
            trigger="query",
        )
    assert caught.value.status == 404


def test_concurrent_promotions_leave_one_champion(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        first = model_in(session, "approved", 1).id
        second = model_in(session, "approved", 2).id
    outcome: dict[str, object] = {}

    def promote_second() -> None:
        try:
            with transaction(factory) as other:
                promote(other, second, OPERATOR, "the challenger")
            outcome["second"] = "promoted"
        except XinyongError as exc:
            outcome["second"] = exc.code

    with transaction(factory) as session:
        promote(session, first, OPERATOR, "the incumbent")
        rival = threading.Thread(target=promote_second)
        rival.start()
        time.sleep(0.5)  # the rival now waits: for SQLite's writer lock or PostgreSQL's index
    rival.join(timeout=60)
    assert not rival.is_alive()

    with factory() as session:
        champions = list_models(session, status="champion")
        assert len(champions) == 1
        if outcome["second"] == "promoted":  # serialised (SQLite): the incumbent was retired
            assert champions[0].id == second
            assert get_model(session, first).status == "retired"
        else:  # raced (PostgreSQL): refused, nothing half done
            assert outcome["second"] == "model_registry_conflict"
            assert champions[0].id == first
            assert get_model(session, second).status == "approved"

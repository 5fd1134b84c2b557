"""Scoring subjects with the champion model: online, for a query or a report, and in batch.

Every score is computed fresh from the subject's credit file as of a date (dynamic scoring)
and kept in the subject's score history with the model version that made it. A score read
by an institution is a query record, under the same purpose and consent rules as a report
(product ``score``); a consent whose scope is ``report`` only does not cover it.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Final

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from xinyong.db import transaction
from xinyong.errors import ConflictError, XinyongError
from xinyong.identity.crypto import KeyRing
from xinyong.identity.models import Subject
from xinyong.institutions.schemas import Principal
from xinyong.reports.profiles import JurisdictionProfile
from xinyong.reports.schemas import Channel, ConsentScope, Coverage
from xinyong.reports.service import (
    Authorization,
    ConsentDoesNotCoverError,
    ConsentRequiredError,
    ConsentTerms,
    QueryRequest,
    authorize_query,
    insert_query_record,
    query_record_values,
    record_refusal,
)
from xinyong.scoring.features import (
    FEATURE_SET,
    SEGMENTS,
    Segment,
    feature_names,
    segment_of_kind,
    subject_features,
)
from xinyong.scoring.models import ScoringModel, SubjectScore
from xinyong.scoring.reasons import (
    MinimumScoringCriteria,
    ReasonCode,
    ScoreResult,
    Unscorable,
    reason_codes,
    score_subject,
    unscorable_reason,
)
from xinyong.scoring.registry import champion, load_registered, record_score, view_score
from xinyong.scoring.schemas import ScoreView
from xinyong.scoring.scorecard import WoeScorecard

SCORE_PRODUCT: Final = "score"

# What a subject's file must hold before it is scored, beyond what each model asks (half of
# its characteristics present): a person needs an account at least six months old (FICO's
# "at least one account open for six months"); an organisation at least half a year of
# dated facts on file.
MINIMUM_CRITERIA: Final[Mapping[Segment, MinimumScoringCriteria]] = {
    "person": MinimumScoringCriteria(
        min_characteristics=1,
        required=("age_of_oldest_account_months",),
        at_least=(("age_of_oldest_account_months", 6.0),),
    ),
    "enterprise": MinimumScoringCriteria(
        min_characteristics=1, required=("years_on_file",), at_least=(("years_on_file", 0.5),)
    ),
}


class NoChampionError(ConflictError):
    code = "no_champion_model"
    title = "No champion model"


class FeatureSetMismatchError(ConflictError):
    code = "feature_set_mismatch"
    title = "Model built on other features"


class ScoreConsentRequiredError(ConsentRequiredError):
    code = "score_consent_required"
    title = "A score needs consent"


def _scoring_model(session: Session, segment: Segment) -> tuple[ScoringModel, WoeScorecard]:
    model = champion(session, segment)
    if model is None:
        raise NoChampionError(
            f"no champion model scores the {segment} segment; train, register, approve and "
            "promote one (xinyong model --help)",
            segment=segment,
        )
    if model.feature_set not in (None, FEATURE_SET):
        raise FeatureSetMismatchError(
            f"the champion {model.name} v{model.version} was built on features "
            f"{model.feature_set!r}; the platform computes {FEATURE_SET!r}",
            segment=segment,
        )
    fitted = load_registered(model)
    if not isinstance(fitted, WoeScorecard):  # promotion admits scorecards only
        raise NoChampionError(f"the champion of the {segment} segment is not a scorecard")
    absent = [name for name in fitted.features_ if name not in feature_names(segment)]
    if absent:
        raise FeatureSetMismatchError(
            f"the champion {model.name} v{model.version} needs characteristics the platform "
            f"does not compute: {', '.join(absent)}",
            segment=segment,
        )
    return model, fitted


def evaluate(
    card: WoeScorecard, segment: Segment, features: Mapping[str, float | None]
) -> ScoreResult | Unscorable:
    """The score of one feature row, or why it is unscorable (platform and model criteria)."""
    row = {name: (math.nan if value is None else value) for name, value in features.items()}
    refusal = unscorable_reason(row, list(row), MINIMUM_CRITERIA[segment])
    if refusal is not None:
        return refusal
    return score_subject(card, row)


def compute_score(
    session: Session,
    keys: KeyRing,
    profile: JurisdictionProfile,
    subject: Subject,
    as_of: date,
    *,
    trigger: str,
) -> ScoreView:
    """Score ``subject`` as of ``as_of`` with its segment's champion and record the score."""
    segment = segment_of_kind(subject.kind)
    model, card = _scoring_model(session, segment)
    features = subject_features(session, keys, profile, subject, as_of)
    result = evaluate(card, segment, features)
    stored = record_score(
        session,
        keys,
        subject_id=subject.id,
        model=model,
        as_of=as_of,
        result=result,
        trigger=trigger,
    )
    return view_score(keys, stored, model.name, model.version)


def _consent_covers_score(consent: ConsentTerms | None) -> bool:
    return consent is None or consent.scope in (ConsentScope.SCORE.value, ConsentScope.BOTH.value)


def _require_score_coverage(authorization: Authorization, subject: Subject) -> None:
    if authorization.coverage is Coverage.PUBLIC_ONLY:
        raise ScoreConsentRequiredError(
            "a score is computed from information that is not public; it needs the "
            "subject's consent covering scores",
            subject_id=subject.id,
        )
    if not _consent_covers_score(authorization.consent):
        consent_id = authorization.consent.id if authorization.consent else None
        raise ConsentDoesNotCoverError(
            f"consent {consent_id} covers reports only, not scores", consent_id=consent_id
        )


@dataclass(frozen=True)
class ServedScore:
    score: ScoreView
    query_record_id: int
    purpose: str
    consent_id: int | None


def request_score(
    session: Session,
    factory: sessionmaker[Session],
    keys: KeyRing,
    principal: Principal,
    profile: JurisdictionProfile,
    subject: Subject,
    request: QueryRequest,
    *,
    channel: Channel,
) -> ServedScore:
    """Authorise a score query, score the subject and record the query; refusals are recorded.

    The score is computed before the query is recorded, so a query never counts as an
    inquiry against the score it asks for.
    """
    query = QueryRequest(
        purpose=request.purpose,
        as_of=request.as_of,
        consent_id=request.consent_id,
        reference=request.reference,
        operator_user=request.operator_user,
        product=SCORE_PRODUCT,
    )
    try:
        authorization = authorize_query(session, keys, principal, profile, subject, query)
        _require_score_coverage(authorization, subject)
        score = compute_score(session, keys, profile, subject, authorization.as_of, trigger="query")
    except XinyongError as error:
        record_refusal(session, factory, principal, channel, subject.id, query, error)
        raise
    consent_id = authorization.consent.id if authorization.consent else None
    record_id = insert_query_record(
        session,
        query_record_values(
            principal,
            channel,
            subject.id,
            query,
            outcome="served",
            consent_id=consent_id,
            as_of=authorization.as_of,
        ),
    )
    return ServedScore(
        score=score,
        query_record_id=record_id,
        purpose=authorization.purpose.code,
        consent_id=consent_id,
    )


def report_score(
    session: Session,
    keys: KeyRing,
    profile: JurisdictionProfile,
    subject: Subject,
    authorization: Authorization,
) -> ScoreView | None:
    """The score a report shows, or None: no champion yet, or the query does not cover it."""
    if authorization.coverage is Coverage.PUBLIC_ONLY:
        return None
    if not _consent_covers_score(authorization.consent):
        return None
    if champion(session, segment_of_kind(subject.kind)) is None:
        return None
    return compute_score(session, keys, profile, subject, authorization.as_of, trigger="report")


# --- batch ---------------------------------------------------------------------------------------

BATCH_SCHEMA: Final = pa.schema(
    [
        ("subject_id", pa.int64()),
        ("segment", pa.string()),
        ("as_of", pa.date32()),
        ("model_id", pa.int64()),
        ("model_name", pa.string()),
        ("model_version", pa.int64()),
        ("outcome", pa.string()),
        ("score", pa.float64()),
        ("reason_1", pa.string()),
        ("reason_2", pa.string()),
        ("reason_3", pa.string()),
        ("reason_4", pa.string()),
        ("reason_5", pa.string()),
        ("unscorable_code", pa.string()),
    ]
)


@dataclass
class BatchSummary:
    scored: dict[str, int]
    unscorable: dict[str, int]
    recorded: int
    skipped_segments: list[str]

    @property
    def subjects(self) -> int:
        return sum(self.scored.values()) + sum(self.unscorable.values())


def _batch_results(
    card: WoeScorecard, segment: Segment, table: Any
) -> Iterable[tuple[int, ScoreResult | Unscorable]]:
    """Score every row of a features table inside the engine; reasons from the points.

    The scorecard's SQL is compiled once per model version (``score_table``'s cache); only
    the feature query is compiled per batch.
    """
    from xinyong.scoring.compile import score_table

    scored = score_table(
        card, table, keep=list(table.columns), points_prefix="__p_", score_name="__score__"
    )
    names = feature_names(segment)
    max_points = card.max_points()
    for row in scored.to_pylist():
        features = {name: row[name] for name in names}
        clean = {name: (math.nan if value is None else value) for name, value in features.items()}
        refusal = unscorable_reason(clean, names, MINIMUM_CRITERIA[segment])
        if refusal is None:
            refusal = unscorable_reason(clean, list(card.features_), MinimumScoringCriteria())
        if refusal is not None:
            yield row["subject_id"], refusal
            continue
        subject_points = {name: float(row[f"__p_{name}"]) for name in card.features_}
        yield (
            row["subject_id"],
            ScoreResult(
                score=float(row["__score__"]),
                points=subject_points,
                reasons=reason_codes(subject_points, max_points),
            ),
        )


def _batch_row(
    subject_id: int,
    segment: Segment,
    as_of: date,
    model: ScoringModel,
    result: ScoreResult | Unscorable,
) -> dict[str, Any]:
    reasons: list[ReasonCode] = result.reasons if isinstance(result, ScoreResult) else []
    codes: list[str | None] = [reason.code for reason in reasons]
    codes += [None] * (5 - len(codes))
    return {
        "subject_id": subject_id,
        "segment": segment,
        "as_of": as_of,
        "model_id": model.id,
        "model_name": model.name,
        "model_version": model.version,
        "outcome": "scored" if isinstance(result, ScoreResult) else "unscorable",
        "score": result.score if isinstance(result, ScoreResult) else None,
        **{f"reason_{n}": codes[n - 1] for n in range(1, 6)},
        "unscorable_code": result.code if isinstance(result, Unscorable) else None,
    }


def _already_recorded(
    session: Session, model_id: int, as_of: date, subject_ids: list[int]
) -> set[int]:
    return set(
        session.scalars(
            select(SubjectScore.subject_id).where(
                SubjectScore.subject_id.in_(subject_ids),
                SubjectScore.model_id == model_id,
                SubjectScore.as_of == as_of,
                SubjectScore.trigger == "batch",
            )
        )
    )


def score_all(
    factory: sessionmaker[Session],
    keys: KeyRing,
    profile: JurisdictionProfile,
    as_of: date,
    out: Path,
    *,
    record: bool = False,
    snapshot_dir: Path | None = None,
    chunk_rows: int = 2000,
    progress: Callable[[int], None] | None = None,
    total: Callable[[int], None] | None = None,
) -> BatchSummary:
    """Score every subject as of ``as_of`` with the champions into a Parquet file.

    Reads a fresh record snapshot (kept in ``snapshot_dir`` if given, else removed), computes
    features and scores inside DuckDB, and writes ``out`` atomically (mode 0600). With
    ``record`` each score also joins the subject's history, in transactions of
    ``chunk_rows``; a re-run after a crash records only the subjects not yet recorded for
    this model and date.
    """
    import ibis  # type: ignore[import-untyped]

    from xinyong.scoring.features import feature_table, snapshot_inputs
    from xinyong.scoring.snapshot import write_snapshot

    if as_of > profile.today():
        raise XinyongError(f"as_of {as_of.isoformat()} is after today ({profile.today()})")
    if out.exists() and out.is_dir():
        raise XinyongError(f"{out} is a directory; give a file name ending in .parquet")
    with factory() as session:
        champions: dict[Segment, tuple[ScoringModel, WoeScorecard]] = {}
        for segment in SEGMENTS:
            if champion(session, segment) is not None:
                champions[segment] = _scoring_model(session, segment)
    if not champions:
        raise NoChampionError("no segment has a champion model; nothing to score")

    scratch = Path(tempfile.mkdtemp(prefix="xinyong-score-"))
    snapshot = snapshot_dir if snapshot_dir is not None else scratch / "snapshot"
    partial = out.with_name(f".{out.name}.partial")
    summary = BatchSummary({}, {}, 0, [s for s in SEGMENTS if s not in champions])
    try:
        with factory() as session:
            write_snapshot(session, keys, snapshot)
        con = ibis.duckdb.connect()
        inputs = snapshot_inputs(con, snapshot, as_of, profile)
        tables = {segment: feature_table(inputs, segment, as_of, profile) for segment in champions}
        if total is not None:
            total(sum(int(con.execute(t.count())) for t in tables.values()))
        writer = pq.ParquetWriter(partial, BATCH_SCHEMA)
        try:
            for segment, table in tables.items():
                model, card = champions[segment]
                summary.scored[segment] = summary.unscorable[segment] = 0
                pending: list[tuple[int, ScoreResult | Unscorable]] = []
                for subject_id, result in _batch_results(card, segment, table):
                    if isinstance(result, ScoreResult):
                        summary.scored[segment] += 1
                    else:
                        summary.unscorable[segment] += 1
                    pending.append((subject_id, result))
                    if len(pending) >= chunk_rows:
                        summary.recorded += _flush(
                            factory, keys, writer, segment, as_of, model, pending, record
                        )
                        if progress is not None:
                            progress(len(pending))
                        pending = []
                if pending:
                    summary.recorded += _flush(
                        factory, keys, writer, segment, as_of, model, pending, record
                    )
                    if progress is not None:
                        progress(len(pending))
        finally:
            writer.close()
        os.chmod(partial, 0o600)
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
        shutil.rmtree(scratch, ignore_errors=True)
    return summary


def _flush(
    factory: sessionmaker[Session],
    keys: KeyRing,
    writer: pq.ParquetWriter,
    segment: Segment,
    as_of: date,
    model: ScoringModel,
    results: list[tuple[int, ScoreResult | Unscorable]],
    record: bool,
) -> int:
    writer.write_table(
        pa.Table.from_pylist(
            [_batch_row(sid, segment, as_of, model, result) for sid, result in results],
            schema=BATCH_SCHEMA,
        )
    )
    if not record:
        return 0
    recorded = 0
    with transaction(factory) as session:
        done = _already_recorded(session, model.id, as_of, [sid for sid, _ in results])
        current = session.get(ScoringModel, model.id)
        assert current is not None
        for subject_id, result in results:
            if subject_id in done:
                continue
            record_score(
                session,
                keys,
                subject_id=subject_id,
                model=current,
                as_of=as_of,
                result=result,
                trigger="batch",
            )
            recorded += 1
    return recorded

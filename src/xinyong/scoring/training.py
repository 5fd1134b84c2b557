"""Training a model: on the platform's own features and outcome labels, or on a CSV file.

Both paths end in :func:`train_and_validate`: a stratified split into a training and a
validation sample (70/30 by default, seeded), the model fitted on the training sample only,
and a validation report on the validation sample with the training sample as the PSI
reference. The reported figures are therefore out of sample.
"""

from __future__ import annotations

import csv
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyong.identity.crypto import KeyRing
from xinyong.identity.identifiers import IdentifierType, normalize_identifier
from xinyong.identity.models import Subject
from xinyong.identity.service import identifier_index
from xinyong.reports.profiles import JurisdictionProfile
from xinyong.scoring.boosting import BoostedModel
from xinyong.scoring.errors import InvalidScoringDataError
from xinyong.scoring.features import batch_features, feature_names
from xinyong.scoring.scorecard import WoeScorecard
from xinyong.scoring.snapshot import write_snapshot
from xinyong.scoring.validation import ValidationReport, validate_model

ModelKind = Literal["scorecard", "lightgbm"]
MODEL_KINDS: tuple[ModelKind, ...] = ("scorecard", "lightgbm")
LABEL_COLUMNS = ("subject_id_type", "subject_identifier", "default_12m")


@dataclass
class TrainingData:
    X: pd.DataFrame
    y: np.ndarray[Any, np.dtype[np.int64]]
    protected: pd.DataFrame | None
    description: str


@dataclass
class TrainedModel:
    model: WoeScorecard | BoostedModel
    validation: ValidationReport
    train_rows: int
    validation_rows: int


def read_csv_training_data(
    path: Path, target: str, bad_value: str, *, protected: Sequence[str] = ()
) -> TrainingData:
    """A CSV file with one row per applicant: ``target`` is bad where it equals ``bad_value``.

    ``protected`` names columns kept out of the model and used only to test adverse impact.
    """
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise InvalidScoringDataError(f"cannot read {path}: {exc}") from exc
    missing = [name for name in (target, *protected) if name not in frame.columns]
    if missing:
        raise InvalidScoringDataError(
            f"{path.name} has no column {', '.join(map(repr, missing))}; "
            f"columns: {', '.join(map(str, frame.columns))}"
        )
    outcome = frame[target].astype(str).str.strip()
    if not (outcome == bad_value).any():
        values = ", ".join(sorted(outcome.unique())[:10])
        raise InvalidScoringDataError(
            f"no row of {target!r} equals the bad value {bad_value!r}; values: {values}"
        )
    y = (outcome == bad_value).astype(np.int64).to_numpy()
    kept = frame.drop(columns=[target, *protected])
    protected_frame = frame[list(protected)].astype(str) if protected else None
    return TrainingData(kept, y, protected_frame, f"{path.name}: {len(frame)} rows")


def _label_subjects(
    session: Session, keys: KeyRing, labels_path: Path
) -> tuple[dict[int, int], date | None]:
    """Subject id → label (1 = defaulted) from a labels file, and its observation date."""
    try:
        handle = labels_path.open(encoding="utf-8", newline="")
    except OSError as exc:
        raise InvalidScoringDataError(f"cannot read {labels_path}: {exc}") from exc
    wanted: dict[bytes, int] = {}
    observed: set[str] = set()
    with handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not set(LABEL_COLUMNS) <= set(reader.fieldnames):
            raise InvalidScoringDataError(
                f"{labels_path.name} needs the columns {', '.join(LABEL_COLUMNS)}"
            )
        for line, row in enumerate(reader, start=2):
            try:
                id_type = IdentifierType(row["subject_id_type"])
                label = int(row["default_12m"])
            except ValueError as exc:
                raise InvalidScoringDataError(f"{labels_path.name} line {line}: {exc}") from exc
            if label not in (0, 1):
                raise InvalidScoringDataError(
                    f"{labels_path.name} line {line}: default_12m must be 0 or 1"
                )
            normalized = normalize_identifier(row["subject_identifier"])
            wanted[identifier_index(keys, id_type, normalized)] = label
            if row.get("observation_date"):
                observed.add(row["observation_date"])
    found: dict[int, int] = {}
    indexes = list(wanted)
    for start in range(0, len(indexes), 1000):
        chunk = indexes[start : start + 1000]
        for subject_id, index in session.execute(
            select(Subject.id, Subject.identifier_index).where(Subject.identifier_index.in_(chunk))
        ):
            found[subject_id] = wanted[bytes(index)]
    observation = date.fromisoformat(min(observed)) if observed else None
    return found, observation


def platform_training_data(
    session: Session,
    keys: KeyRing,
    profile: JurisdictionProfile,
    labels_path: Path,
    segment: str,
    as_of: date,
    *,
    work_dir: Path | None = None,
) -> TrainingData:
    """The platform's features as of ``as_of`` for the subjects in a labels file.

    The features come from a record snapshot written to a private temporary directory and
    removed afterwards.
    """
    labels, _ = _label_subjects(session, keys, labels_path)
    if not labels:
        raise InvalidScoringDataError(
            f"no subject of {labels_path.name} is on the platform; load the population first"
        )
    scratch = Path(tempfile.mkdtemp(prefix="xinyong-train-", dir=work_dir))
    try:
        snapshot = scratch / "snapshot"
        write_snapshot(session, keys, snapshot)
        features = batch_features(snapshot, segment, as_of, profile).to_pandas()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    features = features[features["subject_id"].isin(labels)]
    if features.empty:
        raise InvalidScoringDataError(f"no labelled subject is in the {segment} segment")
    y = features["subject_id"].map(labels).astype(np.int64).to_numpy()
    X = features[feature_names(segment)].reset_index(drop=True)  # type: ignore[arg-type]
    return TrainingData(
        X, y, None, f"{segment} features as of {as_of.isoformat()} for {len(X)} labelled subjects"
    )


def _stratified_split(
    y: np.ndarray[Any, Any], validation_share: float, seed: int
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    rng = np.random.default_rng(seed)
    train: list[np.ndarray[Any, Any]] = []
    valid: list[np.ndarray[Any, Any]] = []
    for value in (0, 1):
        rows = np.flatnonzero(y == value)
        rng.shuffle(rows)
        cut = round(len(rows) * validation_share)
        valid.append(rows[:cut])
        train.append(rows[cut:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(valid))


def make_model(kind: str, **params: Any) -> WoeScorecard | BoostedModel:
    if kind == "scorecard":
        return WoeScorecard(**params)
    if kind == "lightgbm":
        return BoostedModel(**params)
    raise InvalidScoringDataError(f"unknown model kind {kind!r}; expected one of {MODEL_KINDS}")


def train_and_validate(
    data: TrainingData,
    kind: str,
    *,
    validation_share: float = 0.3,
    seed: int = 2026,
    bands: int = 10,
    approval_rate: float | None = 0.7,
    **params: Any,
) -> TrainedModel:
    """Fit on a stratified training sample and validate on the rest."""
    if not 0.05 <= validation_share <= 0.5:
        raise InvalidScoringDataError("the validation share must be between 0.05 and 0.5")
    if len(data.y) < 50 or data.y.sum() < 10 or (len(data.y) - data.y.sum()) < 10:
        raise InvalidScoringDataError(
            f"too little data to train and validate: {len(data.y)} rows, "
            f"{int(data.y.sum())} bad; at least 50 rows with 10 good and 10 bad are needed"
        )
    train, valid = _stratified_split(data.y, validation_share, seed)
    model = make_model(kind, **params)
    X_train = data.X.iloc[train].reset_index(drop=True)
    X_valid = data.X.iloc[valid].reset_index(drop=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # optbinning's pandas deprecation warnings
        model.fit(X_train, data.y[train])
        protected = None
        if data.protected is not None:
            protected = data.protected.iloc[valid].reset_index(drop=True)
        report = validate_model(
            model,
            X_valid,
            data.y[valid],
            X_reference=X_train,
            protected=protected,
            bands=bands,
            approval_rate=approval_rate if protected is not None else None,
        )
    return TrainedModel(model, report, len(train), len(valid))


@dataclass(frozen=True)
class ChampionOutcome:
    segment: str
    model_id: int | None
    name: str
    version: int | None
    auc: float | None
    note: str


def train_champions(
    factory: Any,
    keys: KeyRing,
    profile: JurisdictionProfile,
    labels_path: Path,
    *,
    principal: Any,
    reason: str,
    as_of: date | None = None,
    work_dir: Path | None = None,
) -> list[ChampionOutcome]:
    """Train a scorecard per segment that has no champion and take it to champion.

    For a platform that starts empty (the demo): each model is registered with its
    out-of-sample validation report, approved and promoted by ``principal`` with
    ``reason``, in one transaction per segment. A segment that already has a champion, or
    whose labelled data are too few, is left as it is (and said so).
    """
    from xinyong.db import transaction
    from xinyong.scoring.features import FEATURE_SET, SEGMENTS
    from xinyong.scoring.registry import approve, champion, promote, register_model

    day = as_of or profile.today()
    outcomes: list[ChampionOutcome] = []
    for segment in SEGMENTS:
        name = f"{segment}-scorecard"
        with factory() as session:
            current = champion(session, segment)
            if current is not None:
                outcomes.append(
                    ChampionOutcome(
                        segment, current.id, current.name, current.version, None, "kept"
                    )
                )
                continue
            data = platform_training_data(
                session, keys, profile, labels_path, segment, day, work_dir=work_dir
            )
        try:
            trained = train_and_validate(data, "scorecard")
        except InvalidScoringDataError as exc:
            outcomes.append(ChampionOutcome(segment, None, name, None, None, str(exc)))
            continue
        scratch = Path(tempfile.mkdtemp(prefix="xinyong-model-", dir=work_dir))
        try:
            trained.model.save(scratch / "model.json")
            import json

            artifact = json.loads((scratch / "model.json").read_text(encoding="utf-8"))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        with transaction(factory) as session:
            model = register_model(
                session,
                name=name,
                segment=segment,
                artifact=artifact,
                created_by=principal.label,
                feature_set=FEATURE_SET,
                validation=trained.validation.to_dict(),
                principal=principal,
            )
            approve(session, model.id, principal, reason)
            promote(session, model.id, principal, reason)
            outcomes.append(
                ChampionOutcome(
                    segment, model.id, model.name, model.version, trained.validation.auc, "trained"
                )
            )
    return outcomes

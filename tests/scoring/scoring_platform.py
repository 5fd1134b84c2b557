"""A platform with a synthetic population and champion models for both segments."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from population import LoadedPopulation, load_population
from sqlalchemy.orm import Session, sessionmaker

from xinyong.db import transaction
from xinyong.identity.crypto import KeyRing
from xinyong.institutions.schemas import LOCAL_OPERATOR
from xinyong.reports.profiles import get_profile
from xinyong.scoring.features import FEATURE_SET, feature_names
from xinyong.scoring.registry import approve, promote, register_model
from xinyong.scoring.scorecard import WoeScorecard
from xinyong.scoring.training import platform_training_data, train_and_validate
from xinyong.scoring.validation import validate_model

PROFILE = get_profile("cn")


@dataclass(frozen=True)
class ScoringPlatform:
    population: LoadedPopulation
    person_model_id: int
    enterprise_model_id: int


def _enterprise_model() -> tuple[WoeScorecard, dict[str, Any]]:
    """An enterprise scorecard on made-up rows with the platform's enterprise features."""
    rng = np.random.default_rng(5)
    rows = 600
    frame = pd.DataFrame(
        {name: rng.poisson(1.0, rows).astype(float) for name in feature_names("enterprise")}
    )
    frame["years_on_file"] = rng.uniform(0, 20, rows).round(2)
    frame["tax_grade_latest"] = rng.integers(1, 6, rows).astype(float)
    logit = -1.5 + 0.6 * frame["judgments"] - 0.4 * (frame["tax_grade_latest"] - 3)
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        card = WoeScorecard().fit(frame, y)
        return card, validate_model(card, frame, y).to_dict()


def scoring_platform(
    factory: sessionmaker[Session],
    keys: KeyRing,
    tmp: Path,
    *,
    persons: int = 300,
    enterprises: int = 60,
) -> ScoringPlatform:
    """Load a population, train a person scorecard on it, and make both models champions."""
    population = load_population(
        factory, keys, tmp / "population", persons=persons, enterprises=enterprises
    )
    with factory() as session:
        data = platform_training_data(
            session,
            keys,
            PROFILE,
            population.root / population.manifest.labels_path,
            "person",
            PROFILE.today(),
            work_dir=tmp,
        )
    trained = train_and_validate(data, "scorecard")
    assert isinstance(trained.model, WoeScorecard)
    enterprise_card, enterprise_validation = _enterprise_model()
    ids: dict[str, int] = {}
    for name, segment, card, validation in (
        ("person-scorecard", "person", trained.model, trained.validation.to_dict()),
        ("enterprise-scorecard", "enterprise", enterprise_card, enterprise_validation),
    ):
        path = tmp / f"{name}.json"
        card.save(path)
        with transaction(factory) as session:
            model = register_model(
                session,
                name=name,
                segment=segment,
                artifact=json.loads(path.read_text(encoding="utf-8")),
                created_by="test",
                feature_set=FEATURE_SET,
                validation=validation,
            )
            approve(session, model.id, LOCAL_OPERATOR, "validated on the test population")
            promote(session, model.id, LOCAL_OPERATOR, "test champion")
            ids[segment] = model.id
    return ScoringPlatform(population, ids["person"], ids["enterprise"])

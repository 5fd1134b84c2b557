"""Synthetic credit data with known risk directions, and models fitted on it once."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from xinyong.scoring import BoostedModel, WoeScorecard


def synthetic_credit(rows: int = 2000, seed: int = 7) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    overdue = rng.poisson(0.8, rows).clip(0, 8)
    utilisation = rng.beta(2, 3, rows)
    history = rng.integers(1, 240, rows).astype(float)
    inquiries = rng.poisson(1.5, rows).clip(0, 10)
    housing = rng.choice(["own", "rent", "family"], rows, p=[0.5, 0.35, 0.15])
    logit = (
        -2.0
        + 0.7 * overdue
        + 2.0 * utilisation
        - 0.008 * history
        + 0.35 * inquiries
        + np.where(housing == "rent", 1.0, 0.0)
    )
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    utilisation[rng.random(rows) < 0.08] = np.nan
    frame = pd.DataFrame(
        {
            "overdue_months_24m": overdue,
            "credit_utilisation": utilisation,
            "age_of_oldest_account_months": history,
            "hard_inquiries_6m": inquiries,
            "housing": housing,
        }
    )
    return frame, y


@pytest.fixture(scope="session")
def credit_data() -> tuple[pd.DataFrame, np.ndarray]:
    return synthetic_credit()


@pytest.fixture(scope="session")
def holdout() -> tuple[pd.DataFrame, np.ndarray]:
    """Fresh subjects from the same population, never seen in training."""
    return synthetic_credit(rows=1500, seed=99)


@pytest.fixture(scope="session")
def scorecard(credit_data: tuple[pd.DataFrame, np.ndarray]) -> WoeScorecard:
    X, y = credit_data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # optbinning's pandas deprecation warnings
        return WoeScorecard().fit(X, y)


@pytest.fixture(scope="session")
def boosted(credit_data: tuple[pd.DataFrame, np.ndarray]) -> BoostedModel:
    X, y = credit_data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return BoostedModel(n_estimators=100).fit(X, y)

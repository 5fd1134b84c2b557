"""Points scaling (Siddiqi, *Credit Risk Scorecards*, 2006, ch. 6).

A score is a linear function of the log of the good:bad odds::

    score  = offset + factor · ln(odds)
    factor = pdo / ln 2
    offset = base_score − factor · ln(base_odds)

so the score is ``base_score`` at ``base_odds`` and every ``pdo`` points double the odds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Scaling:
    base_score: float = 600.0
    base_odds: float = 50.0
    """Good:bad odds at ``base_score`` (50 means 50 goods for each bad)."""
    pdo: float = 20.0
    """Points to double the odds."""

    def __post_init__(self) -> None:
        if self.base_odds <= 0 or self.pdo <= 0:
            raise ValueError("base_odds and pdo must be positive")

    @property
    def factor(self) -> float:
        return self.pdo / math.log(2)

    @property
    def offset(self) -> float:
        return self.base_score - self.factor * math.log(self.base_odds)

    def score_from_odds(self, odds: float) -> float:
        return self.offset + self.factor * math.log(odds)

    def odds_from_score(self, score: float) -> float:
        return math.exp((score - self.offset) / self.factor)

    def score_from_bad_probability(self, p_bad: Any) -> npt.NDArray[np.float64]:
        """Score of a probability of bad: odds = (1 − p) / p."""
        p = np.clip(np.asarray(p_bad, dtype=float), 1e-15, 1 - 1e-15)
        return np.asarray(self.offset + self.factor * np.log((1 - p) / p), dtype=float)

    def to_dict(self) -> dict[str, float]:
        return {"base_score": self.base_score, "base_odds": self.base_odds, "pdo": self.pdo}

"""Credit scoring: features, WOE scorecards, a LightGBM challenger, the registry and scores.

See docs/scoring.md. The names below are imported on first use (PEP 562), so importing a
submodule such as :mod:`xinyong.scoring.models` does not load pandas, optbinning or LightGBM.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from xinyong.scoring.artifacts import load_model, training_digest
    from xinyong.scoring.boosting import BoostedModel
    from xinyong.scoring.errors import (
        InvalidScoringDataError,
        ModelArtifactError,
        ModelNotFittedError,
        ProhibitedFeatureError,
    )
    from xinyong.scoring.prohibited import PROHIBITED_BASES, prohibited_columns, refuse_prohibited
    from xinyong.scoring.reasons import (
        MinimumScoringCriteria,
        ReasonCode,
        ScoreResult,
        Unscorable,
        reason_codes,
        score_subject,
    )
    from xinyong.scoring.scaling import Scaling
    from xinyong.scoring.scorecard import WoeScorecard

_HOMES = {
    "load_model": "artifacts",
    "training_digest": "artifacts",
    "BoostedModel": "boosting",
    "InvalidScoringDataError": "errors",
    "ModelArtifactError": "errors",
    "ModelNotFittedError": "errors",
    "ProhibitedFeatureError": "errors",
    "PROHIBITED_BASES": "prohibited",
    "prohibited_columns": "prohibited",
    "refuse_prohibited": "prohibited",
    "MinimumScoringCriteria": "reasons",
    "ReasonCode": "reasons",
    "ScoreResult": "reasons",
    "Unscorable": "reasons",
    "reason_codes": "reasons",
    "score_subject": "reasons",
    "Scaling": "scaling",
    "WoeScorecard": "scorecard",
}

__all__ = [
    "PROHIBITED_BASES",
    "BoostedModel",
    "InvalidScoringDataError",
    "MinimumScoringCriteria",
    "ModelArtifactError",
    "ModelNotFittedError",
    "ProhibitedFeatureError",
    "ReasonCode",
    "Scaling",
    "ScoreResult",
    "Unscorable",
    "WoeScorecard",
    "load_model",
    "prohibited_columns",
    "reason_codes",
    "refuse_prohibited",
    "score_subject",
    "training_digest",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value

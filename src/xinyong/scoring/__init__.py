"""Credit scoring: WOE scorecards, a LightGBM challenger, artifacts and reason codes.

See docs/scoring.md. Heavy libraries (optbinning, LightGBM, scikit-learn) are imported only
when a model is fitted or loaded.
"""

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

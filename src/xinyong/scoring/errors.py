"""Errors of the scoring domain."""

from __future__ import annotations

from xinyong.errors import ConflictError, XinyongError


class ModelNotFittedError(ConflictError):
    """A model was asked to score, explain or save before :meth:`fit`."""

    code = "model_not_fitted"
    title = "Model not fitted"


class ProhibitedFeatureError(XinyongError):
    """A model was given a characteristic on a prohibited basis (RULES.md 25)."""

    code = "prohibited_feature"
    title = "Prohibited scoring feature"


class ModelArtifactError(XinyongError):
    """A model artifact could not be read: wrong format, kind or version."""

    code = "invalid_model_artifact"
    title = "Invalid model artifact"


class InvalidScoringDataError(XinyongError):
    """Training or scoring data do not fit the model (missing columns, bad target)."""

    code = "invalid_scoring_data"
    title = "Invalid scoring data"

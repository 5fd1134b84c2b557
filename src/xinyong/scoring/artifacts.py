"""Model artifacts: a fitted model as one JSON document.

An artifact holds everything needed to score — bins and points or the LightGBM booster
text, the scaling, the feature list — and what is needed to trace it: the SHA-256 digest of
the training frame and the training metrics. Floats are written in Python's shortest
round-trip form, so save → load → score gives the same scores bit for bit.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd  # type: ignore[import-untyped]

from xinyong.scoring.errors import ModelArtifactError

if TYPE_CHECKING:
    from xinyong.scoring.boosting import BoostedModel
    from xinyong.scoring.scorecard import WoeScorecard

ARTIFACT_FORMAT = "xinyong.scoring.model"
ARTIFACT_VERSION = 1
TARGET_COLUMN = "__target__"


def training_digest(X: pd.DataFrame, y: npt.ArrayLike) -> str:
    """SHA-256 of the training frame in a canonical form.

    The form: the feature columns sorted by name, then the target as ``__target__``; rows in
    the given order; written as UTF-8 CSV with ``\\n`` line ends, missing values empty and
    every value as its string form (floats in shortest round-trip form).
    """
    frame = X.reindex(columns=sorted(map(str, X.columns))).copy()
    frame[TARGET_COLUMN] = np.asarray(y)
    digest = hashlib.sha256()
    digest.update((",".join(json.dumps(c) for c in frame.columns) + "\n").encode())
    for row in frame.itertuples(index=False, name=None):
        cells = ["" if pd.isna(v) else json.dumps(_plain(v)) for v in row]
        digest.update((",".join(cells) + "\n").encode())
    return "sha256:" + digest.hexdigest()


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value if isinstance(value, int | float | str | bool) else str(value)


def write_artifact(path: str | Path, kind: str, body: dict[str, Any]) -> None:
    document = {"format": ARTIFACT_FORMAT, "version": ARTIFACT_VERSION, "kind": kind, **body}
    Path(path).write_text(
        json.dumps(document, ensure_ascii=False, indent=1, allow_nan=False), encoding="utf-8"
    )


def read_artifact(path: str | Path, kind: str | None = None) -> dict[str, Any]:
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelArtifactError(f"cannot read model artifact {path}: {exc}") from exc
    if not isinstance(document, dict) or document.get("format") != ARTIFACT_FORMAT:
        raise ModelArtifactError(f"{path} is not a Xinyong model artifact")
    if document.get("version") != ARTIFACT_VERSION:
        raise ModelArtifactError(
            f"{path} has artifact version {document.get('version')}; "
            f"this release reads version {ARTIFACT_VERSION}"
        )
    if kind is not None and document.get("kind") != kind:
        raise ModelArtifactError(f"{path} holds a {document.get('kind')} model, not {kind}")
    return document


def load_model(path: str | Path) -> WoeScorecard | BoostedModel:
    """Load whichever model an artifact holds."""
    from xinyong.scoring.boosting import BoostedModel
    from xinyong.scoring.scorecard import WoeScorecard

    kind = read_artifact(path).get("kind")
    if kind == WoeScorecard.KIND:
        return WoeScorecard.load(path)
    if kind == BoostedModel.KIND:
        return BoostedModel.load(path)
    raise ModelArtifactError(f"{path} holds an unknown model kind {kind!r}")

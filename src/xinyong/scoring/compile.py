"""A fitted WOE scorecard compiled to an Ibis expression, so batch scoring runs in the engine.

Each characteristic becomes one ``CASE`` over its bins, giving that characteristic's points;
the score is their sum, left to right in ``card.features_`` order, exactly as
:meth:`WoeScorecard.score` adds them. The expression is plain Ibis: the caller picks the
engine (``ibis.duckdb.connect()`` by default, PySpark or another Ibis backend for larger
data), and ``ibis.to_sql(expr, dialect=...)`` prints the SQL.

Import this module explicitly (``from xinyong.scoring.compile import compile_scorecard``):
``import xinyong.scoring`` does not import Ibis.

Binning follows :meth:`Characteristic.bin_indices`:

- numerical: bin ``i`` holds ``splits[i-1] <= x < splits[i]`` (a value on a split point
  goes to the bin on its right); NULL and NaN go to the *Missing* bin;
- categorical: membership in the bin's category keys, where a number matches the key
  :func:`~xinyong.scoring.binning.category_key` gives it (``3``, ``3.0`` → ``"3"``) and a
  boolean matches ``"True"`` / ``"False"``; NULL, NaN and categories not seen in training go
  to the *Missing* bin.

Points and split points are written as ``CAST('<shortest repr>' AS DOUBLE)`` rather than as
bare numeric literals: engines such as DuckDB read ``0.1`` as a DECIMAL, and decimal
arithmetic or decimal-to-double conversion can differ from Python's floats in the last bit.
Parsing the shortest round-trip string gives the very same double, so the compiled points
and score equal the Python ones bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import ibis  # type: ignore[import-untyped]

from xinyong.scoring.binning import Characteristic
from xinyong.scoring.errors import InvalidScoringDataError
from xinyong.scoring.frames import require_fitted
from xinyong.scoring.scorecard import WoeScorecard

SCORE_COLUMN = "score"


def _double(value: float) -> Any:
    """A float64 literal that every engine parses to exactly ``value``."""
    return ibis.literal(repr(float(value))).cast("float64")


def _is_missing(column: Any) -> Any:
    missing = column.isnull()
    if column.type().is_floating():
        missing = missing | column.isnan()
    return missing


def _as_number(column: Any) -> Any:
    """The column as float64, as ``pd.to_numeric(errors="coerce")`` would read it."""
    dtype = column.type()
    if dtype.is_numeric():
        return column.cast("float64")
    if dtype.is_boolean():
        return column.cast("int8").cast("float64")
    return column.try_cast("float64")  # text that is not a number is missing


def _below(column: Any, number: Any, split: float) -> Any:
    """``number < split``; on an integer column ``column < ceil(split)``, the same and cheaper."""
    if column.type().is_integer() and math.isfinite(split) and abs(split) < 2**53:
        return column < math.ceil(split)
    return number < _double(split)


def _numeric_key(key: str) -> float | None:
    """The number whose ``category_key`` is ``key``, or None when no number has that key."""
    try:
        number = float(key)
    except ValueError:
        return None
    if math.isnan(number):
        return None
    if number.is_integer() and math.isfinite(number):
        return number if key == str(int(number)) else None
    return number if key == str(number) else None


def _in_group(column: Any, keys: Sequence[str]) -> Any:
    """Whether ``category_key(value)`` is one of ``keys``; None when nothing can match."""
    dtype = column.type()
    if dtype.is_boolean():
        flags = {key == "True" for key in keys if key in ("True", "False")}
        if not flags:
            return None
        if len(flags) == 2:
            return ibis.literal(True)
        return column if True in flags else ~column
    if dtype.is_numeric():
        numbers = sorted({n for n in map(_numeric_key, keys) if n is not None})
        if not numbers:
            return None
        if dtype.is_integer():
            whole = [int(n) for n in numbers if n.is_integer()]
            return column.isin(whole) if whole else None
        return _as_number(column).isin([_double(n) for n in numbers])
    text = column if dtype.is_string() else column.cast("string")
    return text.isin(list(keys))


def characteristic_points(
    characteristic: Characteristic, points: Sequence[float], column: Any
) -> Any:
    """The points of ``characteristic`` for each value of ``column``, as a float64 expression."""
    if len(points) != len(characteristic.bins):
        raise InvalidScoringDataError(
            f"{characteristic.name}: {len(points)} points for {len(characteristic.bins)} bins"
        )
    literals = [_double(p) for p in points]
    missing_points = literals[characteristic.missing_index]
    branches: list[tuple[Any, Any]] = [(_is_missing(column), missing_points)]
    if characteristic.dtype == "numerical":
        number = _as_number(column)
        if not column.type().is_numeric():  # text that is not a number is missing too
            branches[0] = (_is_missing(number), missing_points)
        regular = characteristic.missing_index  # bins before Missing: len(splits) + 1
        for index, split in enumerate(characteristic.splits):
            branches.append((_below(column, number, split), literals[index]))
        otherwise = literals[regular - 1]
    else:
        for index, group in enumerate(characteristic.groups):
            condition = _in_group(column, group)
            if condition is not None:
                branches.append((condition, literals[index]))
        otherwise = missing_points  # a category not seen in training
    return ibis.cases(*branches, else_=otherwise)


def _require_columns(card: WoeScorecard, table: Any) -> None:
    absent = [name for name in card.features_ if name not in table.columns]
    if absent:
        raise InvalidScoringDataError(
            f"characteristics missing from the data: {', '.join(absent)}", columns=absent
        )


def points_expressions(card: WoeScorecard, table: Any) -> dict[str, Any]:
    """One float64 points expression per characteristic of ``card``, over ``table``."""
    require_fitted(card, "points_")
    _require_columns(card, table)
    return {
        name: characteristic_points(card.characteristics_[name], card.points_[name], table[name])
        for name in card.features_
    }


def score_expression(card: WoeScorecard, table: Any) -> Any:
    """The score of each row of ``table``: the characteristics' points added left to right."""
    expressions = list(points_expressions(card, table).values())
    total = expressions[0]
    for expression in expressions[1:]:
        total = total + expression
    return total


def compile_scorecard(card: WoeScorecard, table: Any, *, keep: Sequence[str] = ()) -> Any:
    """A table with the ``keep`` columns, each characteristic's points, and ``score``.

    The points columns are named after the characteristics (as in ``card.points(X)``); their
    sum is the ``score`` column, which equals ``card.score(X)`` row for row.
    """
    points = points_expressions(card, table)
    clashes = [name for name in keep if name in points or name == SCORE_COLUMN]
    if clashes:
        raise InvalidScoringDataError(
            f"kept columns clash with output columns: {', '.join(clashes)}", columns=clashes
        )
    absent = [name for name in keep if name not in table.columns]
    if absent:
        raise InvalidScoringDataError(f"columns to keep are not in the data: {', '.join(absent)}")
    projected = table.select(*[table[name] for name in keep], **points)
    total = projected[card.features_[0]]
    for name in card.features_[1:]:
        total = total + projected[name]
    return projected.mutate(**{SCORE_COLUMN: total})


__all__ = [
    "SCORE_COLUMN",
    "characteristic_points",
    "compile_scorecard",
    "points_expressions",
    "score_expression",
]

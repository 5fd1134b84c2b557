"""The scorecard compiled to Ibis gives the Python scorer's points and scores exactly."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
import pytest

from xinyong.scoring import WoeScorecard
from xinyong.scoring.binning import Bin, Characteristic
from xinyong.scoring.compile import (
    FEATURES_RELATION,
    characteristic_points,
    compile_scorecard,
    score_expression,
    score_table,
    scoring_sql,
)
from xinyong.scoring.errors import InvalidScoringDataError

pytestmark = pytest.mark.filterwarnings(
    "ignore:The 'future.infer_string' option is deprecated",
    "ignore:fetch_arrow_table\\(\\) is deprecated:DeprecationWarning",
)


@pytest.fixture(scope="module")
def con() -> ibis.BaseBackend:
    return ibis.duckdb.connect()


@pytest.fixture(scope="module")
def unrounded(credit_data: tuple[pd.DataFrame, np.ndarray]) -> WoeScorecard:
    """Unrounded points: any difference in float arithmetic would show in the last bit."""
    X, y = credit_data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return WoeScorecard(points_decimals=None).fit(X, y)


@pytest.fixture(scope="module")
def numeric_categories(credit_data: tuple[pd.DataFrame, np.ndarray]) -> WoeScorecard:
    """A scorecard whose inquiries are categorical with number keys ("0", "1", …)."""
    X, y = credit_data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return WoeScorecard(categorical_features=["hard_inquiries_6m"]).fit(X, y)


def awkward_rows(card: WoeScorecard, frame: pd.DataFrame) -> pd.DataFrame:
    """Holdout rows plus every split point (and its neighbours), NULLs, NaN and infinities."""
    rows = [frame]
    for name, characteristic in card.characteristics_.items():
        if characteristic.dtype != "numerical":
            continue
        values = [np.nan, np.inf, -np.inf, 0.0, -1.0]
        for split in characteristic.splits:
            values += [split, np.nextafter(split, -np.inf), np.nextafter(split, np.inf)]
        extra = pd.DataFrame([frame.iloc[0]] * len(values)).reset_index(drop=True)
        extra[name] = values
        rows.append(extra)
    combined = pd.concat(rows, ignore_index=True)
    combined["housing"] = combined["housing"].astype(object)
    combined.loc[combined.index % 7 == 0, "housing"] = None
    combined.loc[combined.index % 11 == 0, "housing"] = "houseboat"  # never seen in training
    return combined


def assert_same(card: WoeScorecard, frame: pd.DataFrame, result: pd.DataFrame) -> None:
    expected = card.points(frame)
    for name in card.features_:
        np.testing.assert_array_equal(result[name].to_numpy(dtype=float), expected[name])
    np.testing.assert_array_equal(result["score"].to_numpy(dtype=float), card.score(frame))


@pytest.mark.parametrize("card_fixture", ["scorecard", "unrounded"])
def test_compiled_points_and_scores_equal_python(
    request: pytest.FixtureRequest,
    card_fixture: str,
    holdout: tuple[pd.DataFrame, np.ndarray],
    con: ibis.BaseBackend,
) -> None:
    card: WoeScorecard = request.getfixturevalue(card_fixture)
    frame = awkward_rows(card, holdout[0])
    frame["subject_id"] = np.arange(len(frame))
    compiled = compile_scorecard(card, ibis.memtable(frame), keep=["subject_id"])
    result = con.execute(compiled.order_by("subject_id"))
    assert list(result.columns) == ["subject_id", *card.features_, "score"]
    assert_same(card, frame, result)
    # explain() for single subjects agrees with the compiled row too.
    for index in (0, len(frame) - 1):
        explained = card.explain(frame.iloc[index])
        assert explained == {name: result[name].iloc[index] for name in card.features_}


def test_points_sum_to_the_score_in_sql(scorecard: WoeScorecard, con: ibis.BaseBackend) -> None:
    frame = awkward_rows(scorecard, scorecard_frame())
    compiled = compile_scorecard(scorecard, ibis.memtable(frame))
    added = compiled[scorecard.features_[0]]
    for name in scorecard.features_[1:]:
        added = added + compiled[name]
    mismatches = compiled.filter(added != compiled.score).count()
    assert con.execute(mismatches) == 0
    # score_expression is the same score as a single column expression.
    table = ibis.memtable(frame)
    scores = con.execute(table.select(score=score_expression(scorecard, table)))
    np.testing.assert_array_equal(scores["score"].to_numpy(), scorecard.score(frame))


def scorecard_frame() -> pd.DataFrame:
    from scoring.conftest import synthetic_credit

    return synthetic_credit(rows=300, seed=3)[0]


def test_numeric_category_keys_match_whatever_the_column_type(
    numeric_categories: WoeScorecard,
    holdout: tuple[pd.DataFrame, np.ndarray],
    con: ibis.BaseBackend,
) -> None:
    card = numeric_categories
    assert card.characteristics_["hard_inquiries_6m"].dtype == "categorical"
    base = holdout[0].head(400).reset_index(drop=True)
    inquiries = base["hard_inquiries_6m"].to_numpy()
    variants = {
        "int": inquiries.astype("int64"),
        "float": np.where(np.arange(len(base)) % 5 == 0, np.nan, inquiries.astype(float) + 0.0),
        "float with fractions": np.where(np.arange(len(base)) % 3 == 0, 2.5, inquiries),
        "text": [str(v) if i % 4 else f"{v}.0" for i, v in enumerate(inquiries)],
        "nullable int": pd.array(
            [None if i % 6 == 0 else int(v) for i, v in enumerate(inquiries)], dtype="Int64"
        ),
    }
    for label, values in variants.items():
        frame = base.copy()
        frame["hard_inquiries_6m"] = values
        frame["row"] = np.arange(len(frame))
        result = con.execute(
            compile_scorecard(card, ibis.memtable(frame), keep=["row"]).order_by("row")
        )
        try:
            assert_same(card, frame, result)
        except AssertionError as error:  # pragma: no cover - names the failing column type
            raise AssertionError(f"column type {label!r}: {error}") from error


def test_scores_a_parquet_file(
    scorecard: WoeScorecard, con: ibis.BaseBackend, tmp_path: Path
) -> None:
    frame = awkward_rows(scorecard, scorecard_frame())
    frame["row"] = np.arange(len(frame))
    path = tmp_path / "features.parquet"
    frame.to_parquet(path)
    result = con.execute(
        compile_scorecard(scorecard, con.read_parquet(path), keep=["row"]).order_by("row")
    )
    assert_same(scorecard, frame, result)


def test_the_sql_prints_for_duckdb(scorecard: WoeScorecard) -> None:
    schema = {
        name: "string" if c.dtype == "categorical" else "float64"
        for name, c in scorecard.characteristics_.items()
    }
    table = ibis.table(
        {"subject_id": "int64", **schema},
        name="features",
    )
    sql = ibis.to_sql(compile_scorecard(scorecard, table, keep=["subject_id"]), dialect="duckdb")
    assert "CASE" in sql
    assert '"features"' in sql
    assert "AS DOUBLE" in sql


def test_refuses_missing_and_clashing_columns(scorecard: WoeScorecard) -> None:
    frame = scorecard_frame()
    with pytest.raises(InvalidScoringDataError, match="missing from the data"):
        compile_scorecard(scorecard, ibis.memtable(frame.drop(columns=["housing"])))
    with pytest.raises(InvalidScoringDataError, match="clash"):
        compile_scorecard(scorecard, ibis.memtable(frame), keep=["housing"])
    with pytest.raises(InvalidScoringDataError, match="not in the data"):
        compile_scorecard(scorecard, ibis.memtable(frame), keep=["subject_id"])


def test_importing_scoring_does_not_import_ibis() -> None:
    code = "import sys, xinyong.scoring; sys.exit('ibis' in sys.modules)"
    completed = subprocess.run([sys.executable, "-c", code], check=False)
    assert completed.returncode == 0


@pytest.mark.parametrize("dtype", ["int64", "Int64", "float64", "int8", "float32"])
def test_split_points_close_bins_on_the_left_for_every_column_type(
    dtype: str, con: ibis.BaseBackend
) -> None:
    characteristic = Characteristic(
        "x",
        "numerical",
        [Bin(str(i), 1, 0, 0.0) for i in range(6)],
        splits=[-1.0, 2.0, 3.5, 7.25],
    )
    sql = ibis.to_sql(
        characteristic_points(characteristic, [1.0] * 6, ibis.table({"x": "float64"}, name="t").x)
        .name("p")
        .as_table(),
        dialect="duckdb",
    )
    assert sql.count("WHEN") == 1  # the same points in every bin: only the missing test
    points = [10.0, 20.5, 30.25, 40.125, 50.0625, 5.5]  # the last one is Missing
    numbers = [-3, -1, 0, 1, 2, 3, 4, 7, 8, 100]
    nullable = dtype[0].isupper() or dtype.startswith("float")
    values = pd.Series(numbers + ([None] if nullable else []), dtype="Float64").astype(dtype)
    if dtype.startswith("float"):
        values = pd.concat(
            [values, pd.Series([np.nan, np.inf, -np.inf, 3.4999, 7.25, 7.2501], dtype=dtype)],
            ignore_index=True,
        )
    table = ibis.memtable(pd.DataFrame({"row": range(len(values)), "x": values}))
    query = table.select("row", p=characteristic_points(characteristic, points, table.x))
    result = con.execute(query.order_by("row"))["p"].to_numpy(dtype=float)
    expected = np.asarray(points)[characteristic.bin_indices(values)]
    np.testing.assert_array_equal(result, expected)


def test_adjacent_bins_with_the_same_points_share_a_branch(con: ibis.BaseBackend) -> None:
    characteristic = Characteristic(
        "x",
        "numerical",
        [Bin(str(i), 1, 0, 0.0) for i in range(5)],
        splits=[1.0, 2.5, 4.0],
    )
    points = [10.0, 10.0, 20.0, 20.0, 7.0]  # bins 0-1 and 2-3 give the same points
    values = pd.Series([-5.0, 1.0, 2.4999, 2.5, 3.0, 4.0, 9.0, np.nan, None], dtype="float64")
    table = ibis.memtable(pd.DataFrame({"row": range(len(values)), "x": values}))
    expression = characteristic_points(characteristic, points, table.x)
    sql = ibis.to_sql(table.select(p=expression), dialect="duckdb")
    assert sql.count("WHEN") == 2  # the missing test and x < 2.5; x >= 2.5 is the ELSE
    result = con.execute(table.select("row", p=expression).order_by("row"))["p"]
    expected = np.asarray(points)[characteristic.bin_indices(values)]
    np.testing.assert_array_equal(result.to_numpy(dtype=float), expected)


def test_negative_zero_and_fractional_points_keep_every_bit(con: ibis.BaseBackend) -> None:
    characteristic = Characteristic(
        "x", "numerical", [Bin(str(i), 1, 0, 0.0) for i in range(4)], splits=[0.1, 0.2]
    )
    points = [-0.0, 0.1 + 0.2, 1e-300, 2.0]
    values = pd.Series([0.0, 0.1, 0.15, 0.2, 0.3, np.nan], dtype="float64")
    table = ibis.memtable(pd.DataFrame({"row": range(len(values)), "x": values}))
    query = table.select("row", p=characteristic_points(characteristic, points, table.x))
    result = con.execute(query.order_by("row"))["p"].to_numpy(dtype=float)
    expected = np.asarray(points)[characteristic.bin_indices(values)]
    assert result.tobytes() == expected.tobytes()  # -0.0 stays -0.0, 0.30000000000000004 too


@pytest.mark.parametrize(
    ("groups", "values", "dtype"),
    [
        ([["a", "b"], ["c"]], ["a", "b", "c", "d", None], "object"),
        ([["True", "False"]], [True, False, None], "boolean"),
        ([["True"], ["False"]], [True, False, None], "boolean"),
    ],
)
def test_missing_and_unseen_categories_take_the_missing_points(
    groups: list[list[str]], values: list[object], dtype: str, con: ibis.BaseBackend
) -> None:
    characteristic = Characteristic(
        "c",
        "categorical",
        [Bin(str(i), 1, 0, 0.0) for i in range(len(groups) + 1)],
        groups=groups,
    )
    points = [float(10 * (i + 1)) for i in range(len(groups))] + [-3.0]  # last: Missing
    series = pd.Series(values, dtype=dtype)
    table = ibis.memtable(pd.DataFrame({"row": range(len(series)), "c": series}))
    query = table.select("row", p=characteristic_points(characteristic, points, table.c))
    result = con.execute(query.order_by("row"))["p"].to_numpy(dtype=float)
    expected = np.asarray(points)[characteristic.bin_indices(series)]
    np.testing.assert_array_equal(result, expected)
    assert result[-1] == -3.0  # NULL


@pytest.mark.parametrize("card_fixture", ["scorecard", "unrounded"])
def test_score_table_runs_the_cached_sql_and_equals_python(
    request: pytest.FixtureRequest,
    card_fixture: str,
    holdout: tuple[pd.DataFrame, np.ndarray],
    tmp_path: Path,
) -> None:
    card: WoeScorecard = request.getfixturevalue(card_fixture)
    frame = awkward_rows(card, holdout[0])
    frame["subject_id"] = np.arange(len(frame))
    path = tmp_path / "features.parquet"
    frame.to_parquet(path)
    con = ibis.duckdb.connect()
    tables = {
        "a table": con.create_table("features", frame),
        "a Parquet view": con.read_parquet(path),
        "an expression": con.table("features").filter(ibis._.subject_id >= 0),
    }
    for label, table in tables.items():
        result = score_table(card, table, keep=["subject_id"], points_prefix="").to_pandas()
        assert list(result.columns) == ["subject_id", *card.features_, "score"], label
        np.testing.assert_array_equal(result["subject_id"].to_numpy(), frame["subject_id"])
        assert_same(card, frame, result)
    only = score_table(card, tables["a table"], score_name="s")
    assert only.column_names == ["s"]
    np.testing.assert_array_equal(only["s"].to_numpy(), card.score(frame))


def test_scoring_sql_is_compiled_once_per_model_version_and_schema(
    scorecard: WoeScorecard, unrounded: WoeScorecard
) -> None:
    schema = ibis.memtable(scorecard_frame()).schema()
    first = scoring_sql(scorecard, schema)
    assert scoring_sql(scorecard, schema) is first  # from the cache
    assert first.startswith("SELECT")
    assert f'FROM "{FEATURES_RELATION}"' in first
    # The same model loaded again (another object) shares the SQL; another model does not.
    assert scoring_sql(WoeScorecard.from_artifact(scorecard.to_artifact()), schema) is first
    assert scoring_sql(unrounded, schema) != first
    # Column types change the SQL (an integer column compares with whole numbers).
    floats = ibis.schema({n: "float64" if t.is_numeric() else t for n, t in schema.items()})
    assert scoring_sql(scorecard, floats) != first
    assert scoring_sql(scorecard, schema, keep=["housing"]) != first


def test_scoring_sql_refuses_missing_and_clashing_columns(scorecard: WoeScorecard) -> None:
    schema = ibis.memtable(scorecard_frame()).schema()
    with pytest.raises(InvalidScoringDataError, match="missing from the data"):
        scoring_sql(scorecard, ibis.schema({n: t for n, t in schema.items() if n != "housing"}))
    with pytest.raises(InvalidScoringDataError, match="missing from the data"):
        scoring_sql(scorecard, schema, keep=["subject_id"])
    with pytest.raises(InvalidScoringDataError, match="clash"):
        scoring_sql(scorecard, schema, keep=["housing"], points_prefix="")
    with pytest.raises(InvalidScoringDataError, match="clash"):
        scoring_sql(scorecard, schema, keep=["housing"], score_name="housing")
    with pytest.raises(InvalidScoringDataError, match="clash"):
        scoring_sql(scorecard, schema, points_prefix="", score_name="housing")

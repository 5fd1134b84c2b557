"""Batch scoring: the scorecard compiled to SQL on DuckDB against optbinning's scorer.

    python benchmarks/batch_scoring.py [--rows 1000000] [--train-rows 20000] [--seed 0]
                                       [--repeat 7] [--row-group-rows 100000] [--keep-id]

It fits a WOE scorecard on a synthetic training frame (five characteristics with known risk
directions, one categorical, missing values), generates ``--rows`` subjects' features with
numpy (seeded), writes them to one Parquet file and reads that file back into a pandas frame
once. Then, in the same run, it scores the subjects two ways from the same starting point:

* **in memory** — both sides start from that pandas frame:
  (a) the compiled scorecard (``xinyong.scoring.compile``) run by DuckDB through Ibis on the
      frame, registered with DuckDB's own zero-copy pandas scan and opened with
      ``con.table``, returning the scores as an Arrow table;
  (b) optbinning's own ``Scorecard.score`` on the frame, returning a numpy array;
* **from Parquet** — both sides start from the file:
  (a) the compiled scorecard on ``con.read_parquet(path)``, returning the scores;
  (b) ``pd.read_parquet`` of the characteristics, then ``Scorecard.score``.

Each timed run of (a) does everything the platform's batch path (``score_all``) does to score
a batch: it hands the data to DuckDB (registering the pandas frame, or opening the file)
and calls ``score_table``, which takes the scorecard's SQL from the per-model-version cache
(``scoring_sql``: compiled once per process, here by the untimed warm-up run), runs it over
the data and materialises the scores. (a cold) is the same call with the cache emptied
before every run, so every run also builds the Ibis expression and compiles it to SQL, as
the first batch of a process does. (a′) runs the finished SQL text on the DuckDB
connection, with nothing in Python between the data and the query: the floor of (a). The
time to build and compile the SQL, and that of a cache hit, are printed apart. Each timed
run of (b) materialises one score per subject too. Every figure is the median of
``--repeat`` runs after one untimed warm-up run of the same call, for both sides alike, and
(a), (a cold), (a′) and (b) take turns, so a change in the machine's load hits them all.
Xinyong's Python scorer (``WoeScorecard.score``) is timed on the frame for reference.

Both sides return one score per subject in the subjects' order and nothing else: (b) a
numpy array in the frame's row order, (a) an Arrow column in the input's row order, which
DuckDB keeps unless ``preserve_insertion_order`` is turned off (it is on by default; the
check below compares row by row, so it would catch any reordering). A real batch job would
keep the subject id beside the score (``compile_scorecard(..., keep=["subject_id"])``), and
must on engines that do not keep the order; that costs DuckDB a few milliseconds more, which
``--keep-id`` shows.

The optbinning scorecard is fitted on the same training frame with the same settings
(monotonic binning, logistic regression C=1, base score 600 at odds 50, 20 points to double
the odds, whole points), but its binning and selection are its own, so its scores are not
identical to Xinyong's; only the timings are compared. The compiled scores are checked
against ``card.score`` on every row, in both modes, for (a), (a cold) and (a′). Target: at
least 10× as many subjects per second as (b); the verdict is printed for each.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import duckdb
import ibis
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from xinyong.scoring import WoeScorecard
from xinyong.scoring.compile import (
    FEATURES_RELATION,
    clear_sql_cache,
    score_table,
    scoring_sql,
)

TARGET_RATIO = 10.0
CATEGORICAL = ("housing",)


def synthetic(rows: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Features with known risk directions (as in tests/scoring/conftest.py) and 0/1 labels."""
    rng = np.random.default_rng(seed)
    overdue = rng.poisson(0.8, rows).clip(0, 8)
    utilisation = rng.beta(2, 3, rows)
    history = rng.integers(1, 240, rows).astype(float)
    inquiries = rng.poisson(1.5, rows).clip(0, 10)
    housing = rng.choice(np.array(["own", "rent", "family"]), rows, p=[0.5, 0.35, 0.15])
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
    history[rng.random(rows) < 0.02] = np.nan
    housing = housing.astype(object)
    housing[rng.random(rows) < 0.01] = None
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


def optbinning_scorecard(X: pd.DataFrame, y: np.ndarray) -> Any:
    from optbinning import BinningProcess, Scorecard
    from sklearn.linear_model import LogisticRegression

    process = BinningProcess(
        list(X.columns),
        categorical_variables=list(CATEGORICAL),
        binning_fit_params={
            name: {"monotonic_trend": "auto_asc_desc"}
            for name in X.columns
            if name not in CATEGORICAL
        },
    )
    card = Scorecard(
        binning_process=process,
        estimator=LogisticRegression(C=1.0, max_iter=1000),
        scaling_method="pdo_odds",
        scaling_method_params={"pdo": 20, "odds": 50, "scorecard_points": 600},
        rounding=True,
    )
    return card.fit(X, y)


def median_seconds(*runs: Callable[[], Any], repeat: int) -> list[tuple[float, Any]]:
    """Per run: the median time of ``repeat`` calls after one untimed warm-up, and the last
    result. The runs take turns, so a change in the machine's load hits them alike."""
    results = [run() for run in runs]
    times: list[list[float]] = [[] for _ in runs]
    for _ in range(repeat):
        for index, run in enumerate(runs):
            start = time.perf_counter()
            results[index] = run()
            times[index].append(time.perf_counter() - start)
    return [(statistics.median(t), r) for t, r in zip(times, results, strict=True)]


def idle_share(seconds: float = 1.0) -> str:
    """The share of CPU time no process used over ``seconds`` (Linux; "?" elsewhere)."""
    stat = Path("/proc/stat")
    if not stat.exists():
        return "?"

    def sample() -> tuple[int, int]:
        fields = [int(v) for v in stat.read_text().split("\n")[0].split()[1:9]]
        return fields[3] + fields[4], sum(fields)

    idle_start, total_start = sample()
    time.sleep(seconds)
    idle_end, total_end = sample()
    return f"{(idle_end - idle_start) / max(total_end - total_start, 1):.0%}"


def compiled_scores(arrow: Any, rows: int) -> np.ndarray:
    """The compiled scores in subject order: by subject id when kept, else as returned."""
    if "subject_id" not in arrow.column_names:
        return np.asarray(arrow["score"].to_numpy())
    scores = np.full(rows, np.nan)
    scores[arrow["subject_id"].to_numpy()] = arrow["score"].to_numpy()
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--train-rows", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--row-group-rows", type=int, default=100_000)
    parser.add_argument(
        "--keep-id", action="store_true", help="(a) returns subject_id beside the score"
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # optbinning's and ibis's pandas deprecation warnings

    X_train, y_train = synthetic(args.train_rows, args.seed)
    card = WoeScorecard(categorical_features=CATEGORICAL).fit(X_train, y_train)
    reference = optbinning_scorecard(X_train, y_train)
    characteristics = list(X_train.columns)
    print(
        f"Scorecard: {len(card.features_)} characteristics "
        f"({', '.join(card.features_)}), fitted on {args.train_rows:,} rows"
    )

    generated, _ = synthetic(args.rows, args.seed + 1)
    generated.insert(0, "subject_id", np.arange(args.rows, dtype=np.int64))
    raw = duckdb.connect()
    con = ibis.duckdb.from_connection(raw)
    threads = raw.execute("SELECT current_setting('threads')").fetchall()[0]
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "features.parquet"
        generated.to_parquet(path, index=False, row_group_size=args.row_group_rows)
        del generated
        frame = pd.read_parquet(path)
        size = path.stat().st_size / 1e6
        groups = pq.ParquetFile(path).metadata.num_row_groups
        dtypes = ", ".join(f"{c} {t}" for c, t in frame.dtypes.astype(str).items())
        print(
            f"Data: {args.rows:,} subjects (seed {args.seed + 1}); Parquet {size:.1f} MB in "
            f"{groups} row group{'s' if groups != 1 else ''} of ≤ {args.row_group_rows:,} rows; "
            f"pandas frame: {dtypes}"
        )
        idle_before = idle_share()
        print(
            f"Machine: {os.cpu_count()} CPUs ({idle_before} idle); "
            f"DuckDB {version('duckdb')} ({threads[0]} threads), Ibis "
            f"{version('ibis-framework')}, optbinning {version('optbinning')}, "
            f"pandas {version('pandas')}, numpy {version('numpy')}"
        )
        kept = ["subject_id"] if args.keep_id else []
        print(
            "Output: one score per subject, materialised — (a) an Arrow table of "
            f"{' and '.join([*kept, 'score'])} in input order, (b) a numpy array in row order"
        )
        print(
            f"Each figure: median of {args.repeat} runs after one warm-up run; (a), (a cold), "
            "(a′) and (b) take turns.\n"
        )

        names = (f"features_{n}" for n in itertools.count())

        def forget_compiled_sql() -> None:
            clear_sql_cache()  # the per-model SQL and the cached Ibis literals

        def with_features(source: str, table: Any) -> str:
            sql = scoring_sql(card, table.schema(), keep=kept)
            return f'WITH "{FEATURES_RELATION}" AS ({source}) {sql}'

        def in_memory(cold: bool) -> Callable[[], Any]:
            def run() -> Any:
                if cold:
                    forget_compiled_sql()
                name = next(names)  # registered afresh in every run: registration is timed too
                raw.register(name, frame)
                result = score_table(card, con.table(name), keep=kept)
                raw.unregister(name)
                return result

            return run

        def from_parquet(cold: bool) -> Callable[[], Any]:
            def run() -> Any:
                if cold:
                    forget_compiled_sql()
                return score_table(card, con.read_parquet(path), keep=kept)

            return run

        # (a′): the same queries with the SQL text fixed beforehand and run on the connection.
        raw.register("features_frame", frame)
        table = con.table("features_frame")
        memory_sql = with_features('SELECT * FROM "features_frame"', table)
        raw.unregister("features_frame")
        table = con.read_parquet(path, table_name="features_file")  # a view: read every run
        parquet_sql = with_features('SELECT * FROM "features_file"', table)

        def prepared_in_memory() -> Any:
            raw.register("features_frame", frame)
            result = raw.sql(memory_sql).to_arrow_table()
            raw.unregister("features_frame")
            return result

        def prepared_from_parquet() -> Any:
            return raw.sql(parquet_sql).to_arrow_table()

        def optbinning_in_memory() -> Any:
            return reference.score(frame[characteristics])

        def optbinning_from_parquet() -> Any:
            return reference.score(pd.read_parquet(path, columns=characteristics))

        modes = {
            "in memory (pandas frame)": (
                in_memory(cold=False),
                in_memory(cold=True),
                prepared_in_memory,
                optbinning_in_memory,
            ),
            "from Parquet (the file)": (
                from_parquet(cold=False),
                from_parquet(cold=True),
                prepared_from_parquet,
                optbinning_from_parquet,
            ),
        }
        results: dict[str, tuple[float, float, float, float]] = {}
        same: dict[str, bool] = {}
        python_scores = card.score(frame)
        for mode, runs in modes.items():
            timed = median_seconds(*runs, repeat=args.repeat)
            results[mode] = (timed[0][0], timed[1][0], timed[2][0], timed[3][0])
            same[mode] = all(
                np.array_equal(compiled_scores(arrow, args.rows), python_scores)
                for _, arrow in timed[:3]
            )
        [(t_python, _)] = median_seconds(lambda: card.score(frame), repeat=args.repeat)

        idle_after = idle_share()
        table = con.read_parquet(path)

        def compile_cold() -> Any:
            forget_compiled_sql()
            return scoring_sql(card, table.schema(), keep=kept)

        [(t_sql, _), (t_cached, _)] = median_seconds(
            compile_cold,
            lambda: scoring_sql(card, table.schema(), keep=kept),
            repeat=args.repeat,
        )

    def rate(seconds: float) -> str:
        return f"{seconds:.3f} s {args.rows / seconds / 1e6:4.1f} M/s"

    def verdict(ratio: float) -> str:
        return f"{ratio:5.1f}× {'met' if ratio >= TARGET_RATIO else 'NOT met':<7}"

    header = (
        f"{'starting from':<25}{'(b) optbinning':>20}{'(a) score_table':>20}{'÷ (b)':>15}"
        f"{'(a cold)':>20}{'÷ (b)':>15}{'(a′) SQL fixed':>20}{'÷ (b)':>15}"
    )
    print(f"Target: ≥ {TARGET_RATIO:g}× the subjects per second of (b)\n")
    print(header)
    print("-" * len(header))
    for mode, (t_compiled, t_cold, t_prepared, t_optbinning) in results.items():
        print(
            f"{mode:<25}{rate(t_optbinning):>20}{rate(t_compiled):>20}"
            f"{verdict(t_optbinning / t_compiled):>15}{rate(t_cold):>20}"
            f"{verdict(t_optbinning / t_cold):>15}{rate(t_prepared):>20}"
            f"{verdict(t_optbinning / t_prepared):>15}"
        )
    print(
        "\n(a) score_table per call, as score_all runs it: the scoring SQL from the per-model "
        "cache (compiled by the warm-up run), the data handed to DuckDB, run, materialised"
    )
    print("(a cold) the same with the cache emptied before every call: compiled every time")
    print("(a′) the finished SQL text run on the connection: no Python between data and query")
    print(
        f"\n(c) Xinyong WoeScorecard.score on the pandas frame: {t_python:.3f} s, "
        f"{args.rows / t_python / 1e6:.2f} M subjects/s"
    )
    print(
        f"Building the Ibis expression and compiling it to SQL: {t_sql * 1000:.1f} ms "
        f"(in every (a cold) run); a cache hit: {t_cached * 1000:.3f} ms (in every (a) run)"
    )
    for mode, equal in same.items():
        print(
            f"Compiled scores ((a), (a cold), (a′)) equal card.score on all {args.rows:,} rows, "
            f"{mode}: "
            f"{'yes' if equal else 'NO'}"
        )
    print(
        f"CPU left idle by other processes, sampled over 1 s before and after timing: "
        f"{idle_before}, {idle_after} (others slow (a), which uses both CPUs, more than (b))"
    )
    print(
        "Note: the optbinning Scorecard is fitted with the same settings on the same training "
        "frame but bins and selects on its own, so its scores differ from Xinyong's; only "
        "speed is compared."
    )
    if not all(same.values()):
        raise SystemExit(1)


if __name__ == "__main__":
    main()

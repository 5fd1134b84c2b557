"""Record ledger: appends, proofs and full verification, beside pymerkle's in-memory tree.

    python benchmarks/ledger.py [--leaves 1000000] [--pg-leaves N] [--batch 1000]
                                [--events 20000] [--proofs 2000] [--consistency 500]
                                [--backend sqlite --backend postgresql] [--database-url URL]

For each database (a fresh SQLite file, migrated with ``xinyong.migrate.upgrade``; a fresh
PostgreSQL database on ``--database-url`` / ``XINYONG_BENCH_DATABASE_URL`` or an embedded
``pgserver``) it builds a tree the real way and times:

* **event logging, end to end** — ``--events`` realistic ``record_versions`` rows (the
  table's columns, an encrypted content of a few hundred bytes) turned into their canonical
  form and committed to (``event_object``, ``canonical``, ``commit`` under the event's
  opening key, as ``append_pending`` does) and appended with ``append_leaves``, one batch
  per transaction. The commitments alone, without the database, are timed on the same rows.
* **appends** — the rest of the tree, ``--leaves`` in all, appended with
  ``append_leaves(session, [(kind, ref_id, commitment32), ...])`` in batches of ``--batch``,
  each inside ``with transaction(factory)`` (lock the head, load the frontier, write the
  leaves and every completed subtree hash, move the head, commit).
* **proofs** — ``inclusion(session, index, size)`` at the full size for ``--proofs`` random
  leaves and ``consistency(session, first, second)`` for ``--consistency`` random pairs of
  sizes, one read transaction, after 100 unmeasured of each; every proof is checked with
  ``merkle.verify_inclusion`` / ``verify_consistency`` against the stored roots.
* **full verification** — ``make_checkpoint`` and then ``verify(session)``: stream every
  leaf and hash it, read every stored subtree hash and compare it with the tree recomputed
  level by level, check the checkpoint's signature and root. The benchmark's leaves have
  kinds outside ``KINDS`` (there are no event rows behind them), so ``verify`` reports one
  "leaves of unknown kind" finding per kind and nothing else; that is the only finding
  tolerated. What it does not time is re-reading and re-committing event rows; the line
  "event check (estimate)" is the commitment cost measured above times the leaves.

The baseline, on the same machine in the same run, is ``pymerkle.InmemoryTree`` (sha256,
RFC 9162 hashing) holding the same leaf data: appends, the root (which must equal ours),
``prove_inclusion`` for the same leaves and ``prove_consistency`` for the same pairs, and
its rebuild (every append and the root) beside our full verification.

Targets (the ledger issue): appends >= 20,000/s batched; an inclusion proof <= 1 ms at
1,000,000 leaves (judged on p99).
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from ingest import fresh_database, postgres_server
from report_latency import percentile
from xinyong import migrate
from xinyong.config import Settings
from xinyong.db import make_session_factory, transaction
from xinyong.identity.crypto import KeyRing
from xinyong.ledger import merkle, service
from xinyong.ledger.canonical import canonical, commit, event_object
from xinyong.ledger.service import KINDS, RECORD_VERSION, LedgerKeys, ledger_keys

SEED = 20261127
# Leaf kinds outside service.KINDS: no event rows stand behind the benchmark's leaves.
EVENT_KIND = "bench.record.version"
SYNTHETIC_KIND = "bench.synthetic"
TARGET_APPENDS = 20_000.0
TARGET_PROOF_MS = 1.0
WARMUP = 100


# --- data -------------------------------------------------------------------------------------


def version_rows(count: int, rng: random.Random) -> list[dict[str, Any]]:
    """Rows shaped like ``record_versions`` as ingestion writes them (ids 1..count)."""
    received = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    values: dict[str, Callable[[int], Any]] = {
        "id": lambda i: i,
        "record_id": lambda i: 1 + i // 2 if i % 3 else i,
        "version": lambda i: 1 + (i % 3 == 1),
        "operation": lambda i: "correct" if i % 3 == 1 else "create",
        # AES-GCM of a credit account's canonical fields: a few hundred bytes.
        "content_ct": lambda i: rng.randbytes(rng.randrange(280, 720)),
        "content_hash": lambda i: rng.randbytes(32),
        "catalog_version": lambda i: "2026.1",
        "valid_from": lambda i: date(2026, 10, 31) - timedelta(days=i % 400),
        "valid_to": lambda i: None,
        "furnisher_id": lambda i: 1 + i % 7,
        "batch_id": lambda i: 1 + i // 2000,
        "batch_row": lambda i: i % 2000,
        "received_at": lambda i: received + timedelta(microseconds=137 * i),
        "reason_ct": lambda i: rng.randbytes(60) if i % 3 == 1 else None,
    }
    columns = [column.name for column in KINDS[RECORD_VERSION].columns]
    unknown = [name for name in columns if name not in values]
    if unknown:
        raise SystemExit(f"record_versions has columns the benchmark does not fill: {unknown}")
    return [{name: values[name](i) for name in columns} for i in range(1, count + 1)]


def commitment(keys: LedgerKeys, row: dict[str, Any]) -> bytes:
    """What ``append_pending`` commits to for a record version."""
    return commit(
        keys.opening_key(RECORD_VERSION, row["id"]), canonical(event_object(RECORD_VERSION, row))
    )


# --- measurements -----------------------------------------------------------------------------


@dataclass
class Latencies:
    seconds: list[float] = field(default_factory=list)

    def ms(self, share: float) -> float:
        return percentile(sorted(self.seconds), share) * 1000

    @property
    def mean_ms(self) -> float:
        return statistics.fmean(self.seconds) * 1000

    def row(self) -> str:
        return f"p50 {self.ms(0.5):.3f} ms, p99 {self.ms(0.99):.3f} ms, mean {self.mean_ms:.3f} ms"


@dataclass
class Plan:
    """What every tree is asked: the same leaves, proofs and pairs of sizes."""

    leaves: int
    commitments: list[bytes]
    proof_indexes: list[int]
    warmup_indexes: list[int]
    pairs: list[tuple[int, int]]
    warmup_pairs: list[tuple[int, int]]


def make_plan(leaves: int, commitments: list[bytes], proofs: int, pairs: int, seed: int) -> Plan:
    rng = random.Random(seed + leaves)

    def pair() -> tuple[int, int]:
        first = rng.randrange(1, leaves)
        return first, rng.randrange(first + 1, leaves + 1)

    return Plan(
        leaves,
        commitments[:leaves],
        [rng.randrange(leaves) for _ in range(proofs)],
        [rng.randrange(leaves) for _ in range(WARMUP)],
        [pair() for _ in range(pairs)],
        [pair() for _ in range(WARMUP)],
    )


@dataclass
class Result:
    name: str
    leaves: int
    appends_per_s: float = 0.0
    first_tenth_per_s: float | None = None
    last_tenth_per_s: float | None = None
    events_per_s: float | None = None
    inclusion: Latencies = field(default_factory=Latencies)
    consistency: Latencies = field(default_factory=Latencies)
    floor: Latencies | None = None
    node_read: Latencies | None = None
    failures: int = 0
    verification_s: float = 0.0
    root_ok: bool = True
    notes: list[str] = field(default_factory=list)


def baseline(plan: Plan, other_sizes: Sequence[int]) -> tuple[Result, dict[int, bytes]]:
    """pymerkle's in-memory tree over the same leaf data, asked the same questions."""
    from pymerkle import InmemoryTree  # type: ignore[import-untyped]

    result = Result("pymerkle", plan.leaves)
    tree = InmemoryTree(algorithm="sha256")
    start = time.perf_counter()
    for value in plan.commitments:
        tree.append_entry(value)
    appended = time.perf_counter() - start
    start = time.perf_counter()
    roots = {plan.leaves: tree.get_root(plan.leaves)}
    rooted = time.perf_counter() - start
    for size in other_sizes:
        roots[size] = tree.get_root(size)
    result.appends_per_s = plan.leaves / appended
    result.verification_s = appended + rooted
    for index in plan.warmup_indexes:
        tree.prove_inclusion(index + 1, plan.leaves)
    for index in plan.proof_indexes:
        start = time.perf_counter()
        proof = tree.prove_inclusion(index + 1, plan.leaves)  # pymerkle counts from 1
        result.inclusion.seconds.append(time.perf_counter() - start)
        # Its path is the leaf hash, then the RFC 9162 audit path.
        path = [bytes.fromhex(value) for value in proof.serialize()["path"]]
        leaf = merkle.leaf_hash(plan.commitments[index])
        if path[0] != leaf or not merkle.verify_inclusion(
            leaf, index, plan.leaves, path[1:], roots[plan.leaves]
        ):
            result.failures += 1
    for first, second in plan.warmup_pairs:
        tree.prove_consistency(first, second)
    for first, second in plan.pairs:
        start = time.perf_counter()
        tree.prove_consistency(first, second)
        result.consistency.seconds.append(time.perf_counter() - start)
    result.notes.append(
        f"pymerkle: {plan.leaves:,} append_entry calls {appended:.1f} s, get_root "
        f"{rooted * 1000:.0f} ms; its inclusion paths checked with verify_inclusion"
    )
    del tree
    gc.collect()
    return result, roots


def in_memory_root(commitments: Sequence[bytes]) -> tuple[bytes, float]:
    """``merkle.root_of`` over the leaf hashes: our own code's in-memory recomputation."""
    start = time.perf_counter()
    value = merkle.root_of([merkle.leaf_hash(c) for c in commitments])
    return value, time.perf_counter() - start


def backend_settings(engine: Engine) -> str:
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            journal = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
            synchronous = connection.exec_driver_sql("PRAGMA synchronous").scalar()
            names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
            mode = names.get(int(synchronous or 0), synchronous)
            return f"journal_mode={journal}, synchronous={mode}"
        version = connection.exec_driver_sql("SHOW server_version").scalar()
        fsync = connection.exec_driver_sql("SHOW fsync").scalar()
        commit_mode = connection.exec_driver_sql("SHOW synchronous_commit").scalar()
        return f"PostgreSQL {version}, fsync={fsync}, synchronous_commit={commit_mode}"


def run_backend(
    name: str,
    engine: Engine,
    keys: LedgerKeys,
    plan: Plan,
    rows: list[dict[str, Any]],
    batch: int,
    expected_root: bytes,
) -> Result:
    migrate.upgrade(engine)
    result = Result(name, plan.leaves)
    result.notes.append(f"{name}: {backend_settings(engine)}")
    factory = make_session_factory(engine, ledger=keys)
    events = min(len(rows), plan.leaves)

    # 1. Event logging, end to end: commitments of realistic rows and their append.
    start = time.perf_counter()
    for offset in range(0, events, batch):
        chunk = rows[offset : offset + batch]
        entries = [(EVENT_KIND, row["id"], commitment(keys, row)) for row in chunk]
        with transaction(factory) as session:
            service.append_leaves(session, entries)
    if events:
        result.events_per_s = events / (time.perf_counter() - start)

    # 2. Appends: the rest of the tree, batched, one transaction per batch.
    tenth = max((plan.leaves - events) // 10, 1)
    marks: list[tuple[int, float]] = []
    start = time.perf_counter()
    report_every = max((plan.leaves - events) // 5 // batch, 1) * batch
    for offset in range(events, plan.leaves, batch):
        end = min(offset + batch, plan.leaves)
        entries = [(SYNTHETIC_KIND, i, plan.commitments[i]) for i in range(offset, end)]
        with transaction(factory) as session:
            service.append_leaves(session, entries)
        marks.append((end, time.perf_counter()))
        if (offset - events) % report_every == 0 and offset > events:
            rate = (offset - events) / (marks[-2][1] - start)
            print(f"  {name}: {offset:,} leaves, {rate:,.0f} appends/s so far", flush=True)
    elapsed = time.perf_counter() - start
    appended = plan.leaves - events
    result.appends_per_s = appended / elapsed

    def rate_between(lo: int, hi: int) -> float | None:
        """Appends/s over the batches from the one ending at or before ``lo`` to ``hi``."""
        n0, t0 = events, start
        for n, t in marks:
            if n <= lo:
                n0, t0 = n, t
        n1, t1 = next((n, t) for n, t in marks if n >= hi)
        return (n1 - n0) / (t1 - t0) if n1 > n0 else None

    result.first_tenth_per_s = rate_between(events, events + tenth)
    result.last_tenth_per_s = rate_between(plan.leaves - tenth, plan.leaves)

    # 3. Proofs, in one read transaction, each checked against the stored roots.
    with transaction(factory) as session:
        size = service.tree_size(session)
        if size != plan.leaves:
            raise SystemExit(f"{name}: the head says {size:,} leaves, {plan.leaves:,} appended")
        root = service.root_at(session, plan.leaves)
        result.root_ok = root == expected_root
        for index in plan.warmup_indexes:
            service.inclusion(session, index, plan.leaves)
        for index in plan.proof_indexes:
            start = time.perf_counter()
            proof = service.inclusion(session, index, plan.leaves)
            result.inclusion.seconds.append(time.perf_counter() - start)
            leaf = merkle.leaf_hash(plan.commitments[index])
            if proof.leaf_hash != leaf or not merkle.verify_inclusion(
                leaf, index, plan.leaves, proof.proof, root
            ):
                result.failures += 1
        # Where a proof's time goes: the one query for the stored nodes alone, and a one-row
        # read (the head) as the floor of any query on this machine, on the same leaves.
        result.floor, result.node_read = Latencies(), Latencies()
        for index in plan.proof_indexes:
            start = time.perf_counter()
            service.tree_size(session)
            result.floor.seconds.append(time.perf_counter() - start)
            wanted = merkle.inclusion_nodes(index, plan.leaves) | {(0, index)}
            start = time.perf_counter()
            service.fetch_nodes(session, wanted)
            result.node_read.seconds.append(time.perf_counter() - start)
        for first, second in plan.warmup_pairs:
            service.consistency(session, first, second)
        roots: dict[int, bytes] = {}
        proofs: list[list[bytes]] = []
        for first, second in plan.pairs:
            start = time.perf_counter()
            proofs.append(service.consistency(session, first, second))
            result.consistency.seconds.append(time.perf_counter() - start)
        for first, second in plan.pairs:
            for n in (first, second):
                if n not in roots:
                    roots[n] = service.root_at(session, n)
        for (first, second), proof_ in zip(plan.pairs, proofs, strict=True):
            if not merkle.verify_consistency(first, second, roots[first], roots[second], proof_):
                result.failures += 1

    # 4. Full verification after a checkpoint.
    with transaction(factory) as session:
        checkpoint = service.make_checkpoint(session)
        if bytes(checkpoint.root) != expected_root:
            result.root_ok = False
    with transaction(factory) as session:
        start = time.perf_counter()
        verified = service.verify(session)
        result.verification_s = time.perf_counter() - start
    tolerated = {f"leaves of unknown kind {kind!r}" for kind in (EVENT_KIND, SYNTHETIC_KIND)}
    other = [f for f in verified.findings if not (f.problem == "tree" and f.detail in tolerated)]
    if other or verified.size != plan.leaves or verified.checkpoints != 1:
        result.failures += 1
        result.notes.append(
            f"{name}: verify found {len(other)} unexpected finding(s), e.g. "
            f"{other[0] if other else None}; size {verified.size}, "
            f"{verified.checkpoints} checkpoint(s)"
        )
    return result


# --- output -----------------------------------------------------------------------------------


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def table(results: Sequence[Result], commit_rate: float) -> str:
    width = 16
    names = [r.name for r in results]
    lines = [f"{'':<30}" + "".join(f"{n:>{width}}" for n in names)]
    lines.append("-" * len(lines[0]))

    def row(label: str, cell: Callable[[Result], str]) -> None:
        lines.append(f"{label:<30}" + "".join(f"{cell(r):>{width}}" for r in results))

    dash = "-"
    row("leaves", lambda r: f"{r.leaves:,}")
    row("appends/s (batched)", lambda r: f"{r.appends_per_s:,.0f}")
    row("  first tenth of the tree", lambda r: _rate(r.first_tenth_per_s))
    row("  last tenth of the tree", lambda r: _rate(r.last_tenth_per_s))
    row(
        "events/s (commit + append)",
        lambda r: f"{r.events_per_s:,.0f}" if r.events_per_s is not None else dash,
    )
    row(
        "commitments/s (no database)",
        lambda r: f"{commit_rate:,.0f}" if r.events_per_s is not None else dash,
    )
    row("inclusion proof p50 ms", lambda r: f"{r.inclusion.ms(0.5):.3f}")
    row("inclusion proof p99 ms", lambda r: f"{r.inclusion.ms(0.99):.3f}")
    row("inclusion proof mean ms", lambda r: f"{r.inclusion.mean_ms:.3f}")
    row("  head read alone p50 ms", lambda r: f"{r.floor.ms(0.5):.3f}" if r.floor else dash)
    row("  head read alone p99 ms", lambda r: f"{r.floor.ms(0.99):.3f}" if r.floor else dash)
    row(
        "  node read alone p50 ms",
        lambda r: f"{r.node_read.ms(0.5):.3f}" if r.node_read else dash,
    )
    row(
        "  node read alone p99 ms",
        lambda r: f"{r.node_read.ms(0.99):.3f}" if r.node_read else dash,
    )
    row("consistency proof p50 ms", lambda r: f"{r.consistency.ms(0.5):.3f}")
    row("consistency proof p99 ms", lambda r: f"{r.consistency.ms(0.99):.3f}")
    row("full verification s", lambda r: f"{r.verification_s:.1f}")
    row(
        "  event check (estimate) s",
        lambda r: f"+{r.leaves / commit_rate:.1f}" if r.events_per_s is not None else dash,
    )
    row("root equals in-memory root", lambda r: "yes" if r.root_ok else "NO")
    row("proof/verify failures", lambda r: f"{r.failures}")
    return "\n".join(lines)


LEGEND = """
appends/s            append_leaves(session, entries) of 32-byte commitments, --batch leaves
                     per transaction (lock ledger_head, load the frontier, COPY/executemany the
                     leaves and every completed subtree hash, move the head, commit); pymerkle:
                     InmemoryTree.append_entry of the same data, no storage
events/s             the same with the commitment computed in the clock from a realistic
                     record_versions row (event_object, canonical, HMAC under the opening key)
commitments/s        those commitments alone, in memory
inclusion/consistency  service.inclusion(session, index, size) / service.consistency in one
                     read transaction (each call reads its O(log n) stored nodes and the
                     leaf block under them in one query;
                     a size past the tree shows as missing nodes), after 100 unmeasured;
                     pymerkle: prove_inclusion /
                     prove_consistency on the same leaves and pairs
head read, node read the floor of one query, tree_size(session) (one row of ledger_head), and
                     an inclusion proof's one query, fetch_nodes(session, its subtrees),
                     each timed alone on the same leaves
full verification    make_checkpoint, then service.verify(session): read and hash every leaf,
                     read every stored subtree hash (16 leaves and up) and compare it with
                     the tree recomputed level by level, check the signed checkpoint (no
                     event rows stand behind the benchmark's leaves, so it re-commits none:
                     the estimate line adds the commitment cost at the rate above);
                     pymerkle: rebuilding its tree from the leaf data (every append_entry
                     and get_root)"""


# --- main -------------------------------------------------------------------------------------


@contextmanager
def _none() -> Iterator[None]:
    yield None


def main() -> None:
    # pgserver's platformdirs complains about XDG_RUNTIME_DIR on headless machines.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument(
        "--pg-leaves", type=int, default=None, help="leaves on PostgreSQL (default --leaves)"
    )
    parser.add_argument("--batch", type=int, default=1_000, help="leaves per transaction")
    parser.add_argument(
        "--events", type=int, default=20_000, help="realistic events logged end to end"
    )
    parser.add_argument("--proofs", type=int, default=2_000, help="inclusion proofs timed")
    parser.add_argument("--consistency", type=int, default=500, help="consistency proofs timed")
    parser.add_argument(
        "--backend", action="append", choices=("sqlite", "postgresql"), default=None
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="a PostgreSQL server where databases may be created (default "
        "XINYONG_BENCH_DATABASE_URL, else an embedded pgserver)",
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip pymerkle")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    backends = args.backend or ["sqlite", "postgresql"]
    pg_leaves = args.pg_leaves if args.pg_leaves is not None else args.leaves
    if args.leaves < 2 or pg_leaves < 2 or args.batch < 1:
        parser.error("--leaves and --pg-leaves must be at least 2, --batch at least 1")
    began = time.perf_counter()

    rng = random.Random(args.seed)
    most = max(args.leaves, pg_leaves if "postgresql" in backends else 0)
    with tempfile.TemporaryDirectory(prefix="xinyong-bench-") as tmp:
        workdir = Path(tmp)
        settings = Settings(data_dir=workdir)
        keys = ledger_keys(KeyRing(os.urandom(32), os.urandom(32)), settings)
        rows = version_rows(min(args.events, most), rng)
        start = time.perf_counter()
        event_commitments = [commitment(keys, row) for row in rows]
        commit_rate = len(rows) / (time.perf_counter() - start) if rows else float("nan")
        sizes = sum(len(canonical(event_object(RECORD_VERSION, row))) for row in rows)
        commitments = event_commitments + [rng.randbytes(32) for _ in range(most - len(rows))]
        plans = {
            name: make_plan(size, commitments, args.proofs, args.consistency, args.seed)
            for name, size in (("sqlite", args.leaves), ("postgresql", pg_leaves))
        }

        print(
            f"data: {args.leaves:,} leaves (PostgreSQL {pg_leaves:,}); the first "
            f"{len(rows):,} commit to realistic record_versions rows (canonical JSON "
            f"{sizes / max(len(rows), 1):,.0f} bytes on average), the rest are random 32-byte "
            f"commitments; batches of {args.batch:,} leaves per transaction; "
            f"{args.proofs:,} inclusion and {args.consistency:,} consistency proofs at random "
            f"(seed {args.seed})"
        )
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
            f"{sys.version.split()[0]}; {load()} at the start",
            flush=True,
        )

        # Our own in-memory recomputation, and the root every tree must reach.
        memory_roots: dict[int, bytes] = {}
        notes: list[str] = []
        for size in sorted({plans[b].leaves for b in backends} | {args.leaves}):
            memory_roots[size], seconds = in_memory_root(commitments[:size])
            notes.append(
                f"xinyong.ledger.merkle.root_of over {size:,} leaves in memory: {seconds:.1f} s"
            )

        results: list[Result] = []
        if not args.no_baseline:
            print("\n== pymerkle (in memory) ==", flush=True)
            start = time.perf_counter()
            reference, pymerkle_roots = baseline(plans["sqlite"], sorted(memory_roots))
            notes += reference.notes
            for size, value in pymerkle_roots.items():
                if value != memory_roots[size]:
                    reference.root_ok = False
                    notes.append(f"pymerkle's root at {size:,} differs from ours")
            print(f"  done in {time.perf_counter() - start:.0f} s", flush=True)
        timings: dict[str, float] = {}
        admin_context = (
            _none()
            if "postgresql" not in backends
            else _given(args.database_url)
            if args.database_url
            else postgres_server(workdir)
        )
        with admin_context as admin:
            for backend in backends:
                print(f"\n== {backend} ==", flush=True)
                start = time.perf_counter()
                plan = plans[backend]
                with fresh_database(backend, workdir, admin) as engine:
                    result = run_backend(
                        backend, engine, keys, plan, rows, args.batch, memory_roots[plan.leaves]
                    )
                timings[backend] = time.perf_counter() - start
                notes += result.notes
                results.append(result)
                print(
                    f"  {result.appends_per_s:,.0f} appends/s; inclusion {result.inclusion.row()};"
                    f" verification {result.verification_s:.1f} s; {timings[backend]:.0f} s",
                    flush=True,
                )
        if not args.no_baseline:
            results.append(reference)

    print("\n" + table(results, commit_rate))
    print("\n".join(["", *notes]))
    print(LEGEND)
    print("\ntargets")
    failed = False
    for result in results:
        if result.name == "pymerkle":
            continue
        appends = result.appends_per_s >= TARGET_APPENDS
        proof = result.inclusion.ms(0.99) <= TARGET_PROOF_MS
        proof_p50 = result.inclusion.ms(0.5) <= TARGET_PROOF_MS
        failed |= bool(result.failures) or not result.root_ok
        print(
            f"{result.name:<11}appends {result.appends_per_s:,.0f}/s "
            f"(target >= {TARGET_APPENDS:,.0f}/s): {pass_miss(appends)}; inclusion proof at "
            f"{result.leaves:,} leaves (target <= {TARGET_PROOF_MS:g} ms) p99 "
            f"{result.inclusion.ms(0.99):.3f} ms: {pass_miss(proof)}, p50 "
            f"{result.inclusion.ms(0.5):.3f} ms: {pass_miss(proof_p50)}; failures "
            f"{result.failures}"
        )
    total = time.perf_counter() - began
    spent = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in timings.items())
    print(f"\ntime: {spent}, total {total:.0f} s; {load()} at the end")
    if failed:
        raise SystemExit("a proof, a root or the verification failed")


def load() -> str:
    """The machine's load: proof tails on a shared machine are mostly other processes."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min)"


def pass_miss(met: bool) -> str:
    return "PASS" if met else "MISS"


@contextmanager
def _given(url: str) -> Iterator[str]:
    yield url


if __name__ == "__main__":
    main()

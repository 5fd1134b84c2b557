"""Credit-report latency and throughput over HTTP, against the same server's bare /health.

    python benchmarks/report_latency.py [--subjects 100000] [--clients 4] [--duration 10]
                                        [--backend sqlite --backend postgresql] [--quick]

For each database it loads a synthetic population (one enterprise to nine persons, at most
3,000 enterprises) through the real ingestion path, registers a querying institution
permitted ``loan_approval``, records a consent (``document_hash`` evidence) for every
subject and issues the institution an API key. It then starts the real server
(``xinyong serve``: uvicorn, one worker process) and drives it with concurrent clients,
each sending one request at a time over its own keep-alive connection:

* **GET /health** — the ceiling: routing, a database round trip (``SELECT 1``), JSON;
* **POST /v1/reports** — a JSON credit report for a random consented subject: API-key
  check, consent check, the file assembled and decrypted, the query record and the
  issued-report register entry written in one transaction.

Each endpoint gets a warm-up and then a measured phase, with the same clients against the
same server. It prints requests, req/s, p50, p99 and max latency and errors per endpoint,
the CPU used by the server, the database and the load generator, and report req/s as a
share of health req/s. Targets: that share at least 25 %, report p99 at most 50 ms, at 4
clients.

The generated batch files are cached under ``benchmarks/.data/``, and so is the loaded
SQLite database (with its key file), reused while the population matches (``--reload``
loads it afresh). PostgreSQL comes from ``XINYONG_BENCH_DATABASE_URL`` (a server where
databases may be created) or an embedded server started with ``pgserver``, and is loaded
afresh each run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx2 as httpx
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from ingest import fresh_database, postgres_server
from xinyong import migrate
from xinyong.config import Settings
from xinyong.db import bulk_insert, make_engine, make_session_factory, transaction, utcnow
from xinyong.identity.crypto import KeyRing, load_keyring
from xinyong.identity.identifiers import make_uscc
from xinyong.identity.models import Subject
from xinyong.identity.service import count_subjects_by_kind
from xinyong.ingestion.readers import FileFormat
from xinyong.ingestion.tasks import ingest_file
from xinyong.institutions.schemas import InstitutionCreate, InstitutionKind, Role
from xinyong.institutions.service import (
    create_institution,
    get_institution_by_code,
    issue_api_key,
)
from xinyong.ledger.service import ledger_keys
from xinyong.records.service import count_records_by_type, count_versions
from xinyong.reports.models import Consent, QueryRecord
from xinyong.synth.service import SynthManifest, generate_population, read_manifest

DATA_DIR = Path(__file__).resolve().parent / ".data"
SEED = 2026
PURPOSE = "loan_approval"
QUERIER = InstitutionCreate(
    code="bench-lender",
    name="基准测试消费金融有限公司",
    name_en="Benchmark Consumer Finance Co., Ltd.",
    kind=InstitutionKind.CONSUMER_FINANCE,
    uscc=make_uscc("9", "1", "310115", "BENCHQ01"),
    is_querier=True,
    permitted_purposes=[PURPOSE],
)
# Targets of the issue: report throughput against /health, and report p99, at 4 clients.
TARGET_SHARE = 0.25
TARGET_P99_MS = 50.0


# --- data -------------------------------------------------------------------------------------


def split_subjects(subjects: int) -> tuple[int, int]:
    """Persons and enterprises: one enterprise to nine persons."""
    enterprises = max(subjects // 10, 1)
    return subjects - enterprises, enterprises


def population(persons: int, enterprises: int, seed: int) -> tuple[Path, SynthManifest, float]:
    """The batch files, generated once and cached; returns the seconds spent generating."""
    root = DATA_DIR / "population" / f"p{persons}-e{enterprises}-s{seed}"
    if (root / "manifest.json").exists():
        return root, read_manifest(root), 0.0
    start = time.perf_counter()
    partial = root.with_name(root.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    generate_population(persons, enterprises, seed, partial)
    partial.rename(root)
    return root, read_manifest(root), time.perf_counter() - start


def load(
    engine: Engine, keys: KeyRing, root: Path, manifest: SynthManifest, settings: Settings
) -> None:
    """Ingest every batch file the real way, then register the querier and its consents."""
    migrate.upgrade(engine)
    factory = make_session_factory(engine, ledger=ledger_keys(keys, Settings()))
    with transaction(factory) as session:
        for furnisher in manifest.furnishers:
            create_institution(
                session,
                keys,
                InstitutionCreate(
                    code=furnisher.code,
                    name=furnisher.name_zh,
                    name_en=furnisher.name_en,
                    kind=InstitutionKind(furnisher.kind),
                    uscc=furnisher.uscc,
                    is_furnisher=True,
                    permitted_record_types=list(furnisher.record_types),
                ),
            )
        querier = create_institution(session, keys, QUERIER)
        furnisher_ids = {
            f.code: get_institution_by_code(session, f.code).id for f in manifest.furnishers
        }
    files = sorted(manifest.files, key=lambda f: (f.kind != "initial", f.path))
    for spec in files:
        result = ingest_file(
            factory,
            keys,
            furnisher_id=furnisher_ids[spec.furnisher_code],
            path=root / spec.path,
            file_format=FileFormat(spec.format),
            idempotency_key=f"bench:{manifest.seed}:{spec.path}",
            source="benchmark",
            filename=Path(spec.path).name,
            chunk_rows=settings.ingest_chunk_rows,
            workers=settings.ingest_workers,
            worker_min_rows=settings.ingest_worker_min_rows,
        )
        if result.rows.rejected:
            raise SystemExit(f"{spec.path}: {result.rows.rejected} rows rejected")
    # One consent per subject, as the institution would record them (POST /v1/consents),
    # written in bulk: the evidence is the SHA-256 of a (here random) signed form.
    now = utcnow()
    with transaction(factory) as session:
        subject_ids = list(session.scalars(select(Subject.id).order_by(Subject.id)))
        columns = (
            "subject_id", "institution_id", "purposes", "scope", "granted_at", "expires_at",
            "evidence_kind", "evidence_sha256", "recorded_by", "created_at",
        )  # fmt: skip
        granted, expires = now - timedelta(days=1), now + timedelta(days=1800)
        terms = (querier.id, [PURPOSE], "report", granted, expires, "document_hash")
        rows = [
            (subject_id, *terms, secrets.token_hex(32), "institution", now)
            for subject_id in subject_ids
        ]
        bulk_insert(session, Consent, columns, rows)
    if engine.dialect.name == "postgresql":
        # What an operator does after a bulk load; autovacuum would get there later.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("ANALYZE")


@dataclass
class Loaded:
    subjects: dict[str, int]
    records: int
    versions: int
    consents: int
    query_records: int
    subject_ids: list[int]
    api_key: str


def prepare_querier(engine: Engine) -> Loaded:
    """Issue the querier a fresh API key; count what the database holds."""
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        querier = get_institution_by_code(session, QUERIER.code)
        issued = issue_api_key(session, Role.QUERIER, querier, "report latency benchmark")
        subject_ids = list(
            session.scalars(
                select(Consent.subject_id)
                .where(Consent.institution_id == querier.id)
                .order_by(Consent.subject_id)
            )
        )
        return Loaded(
            subjects=count_subjects_by_kind(session),
            records=sum(count_records_by_type(session).values()),
            versions=count_versions(session),
            consents=len(subject_ids),
            query_records=session.scalar(select(func.count()).select_from(QueryRecord)) or 0,
            subject_ids=subject_ids,
            api_key=issued.api_key,
        )


@contextmanager
def sqlite_database(
    root: Path, manifest: SynthManifest, settings: Settings, reload: bool
) -> Iterator[tuple[str, Path, str, float]]:
    """The cached SQLite database: (url, key file, how it came about, seconds loading)."""
    home = DATA_DIR / f"sqlite-{root.name}"
    marker, database, key_file = home / "loaded.json", home / "xinyong.db", home / "keys.json"
    wanted = {"population": root.name, "catalog_version": manifest.catalog_version}
    url = f"sqlite:///{database}"
    reusable = not reload and marker.exists() and database.exists()
    if reusable and json.loads(marker.read_text()) == wanted:
        engine = make_engine(url)
        migrate.upgrade(engine)  # a newer schema since it was loaded
        engine.dispose()
        yield url, key_file, f"reused {database.relative_to(DATA_DIR.parent.parent)}", 0.0
        return
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    keys = load_keyring(Settings(data_dir=home, key_file=key_file))
    start = time.perf_counter()
    engine = make_engine(url)
    try:
        load(engine, keys, root, manifest, settings)
    finally:
        engine.dispose()
    elapsed = time.perf_counter() - start
    marker.write_text(json.dumps(wanted))
    yield url, key_file, f"loaded into {database.relative_to(DATA_DIR.parent.parent)}", elapsed


@contextmanager
def postgresql_database(
    root: Path, manifest: SynthManifest, settings: Settings, workdir: Path, admin: str
) -> Iterator[tuple[str, Path, str, float]]:
    """A fresh PostgreSQL database, loaded; dropped afterwards."""
    key_file = workdir / "pg-keys.json"
    keys = load_keyring(Settings(data_dir=workdir, key_file=key_file))
    with fresh_database("postgresql", workdir, admin) as engine:
        start = time.perf_counter()
        load(engine, keys, root, manifest, settings)
        elapsed = time.perf_counter() - start
        url = engine.url.render_as_string(hide_password=False)
        yield url, key_file, f"loaded into database {engine.url.database}", elapsed


# --- server -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def server(url: str, key_file: Path, workdir: Path, log_level: str) -> Iterator[Server]:
    """``xinyong serve`` in a subprocess (uvicorn, one worker), once /health answers."""
    port = free_port()
    env = {
        **os.environ,
        "XINYONG_DATABASE_URL": url,
        "XINYONG_DATA_DIR": str(workdir / "server-data"),
        "XINYONG_KEY_FILE": str(key_file),
        "XINYONG_LOG_LEVEL": log_level,
        # The embedded webhook worker and daily jobs would compete with the measured
        # requests (the loaded data leaves outbox events to fan out); production runs them
        # in worker processes of their own.
        "XINYONG_EVENTS_WORKER": "off",
    }
    log_path = workdir / f"server-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "xinyong.cli.main", "serve", "--host", "127.0.0.1",
             "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=workdir,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise SystemExit(f"the server exited:\n{log_path.read_text()[-3000:]}")
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"the server did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.1)
        yield Server(base, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass(frozen=True)
class Server:
    base: str
    pid: int


def _cpu_seconds(stat: str) -> float:
    """User plus system CPU seconds from a /proc/<pid>/stat line."""
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# A meter reads CPU seconds by process id; None where /proc is not available.
CpuReading = dict[int, float] | None
Meter = Callable[[], CpuReading]


def process_cpu(pid: int) -> Meter:
    """A meter of one process's CPU time (Linux only)."""

    def meter() -> CpuReading:
        try:
            return {pid: _cpu_seconds(Path(f"/proc/{pid}/stat").read_text())}
        except OSError:
            return None

    return meter


def postgres_cpu() -> CpuReading:
    """CPU time of each live ``postgres`` process: the database's share of the machine."""
    found: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            line = stat.read_text()
        except OSError:  # the process ended meanwhile
            continue
        if line[line.index("(") + 1 : line.rindex(")")] == "postgres":
            found[int(stat.parent.name)] = _cpu_seconds(line)
    return found or None


def no_meter() -> CpuReading:
    return None


# --- load -------------------------------------------------------------------------------------


@dataclass
class Phase:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None
    response_bytes: int = 0
    elapsed: float = 0.0
    # CPU seconds over the phase: the server process, the database server, this process.
    server_cpu: float | None = None
    database_cpu: float | None = None
    client_cpu: float = 0.0


Request = Callable[[httpx.Client, random.Random], httpx.Response]


def _delta(before: CpuReading, after: CpuReading) -> float | None:
    """CPU used in between by the processes alive at the end (those that ended are lost)."""
    if before is None or after is None:
        return None
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def drive(
    clients: list[httpx.Client], request: Request, seconds: float, meters: tuple[Meter, Meter]
) -> Phase:
    """Each client sends requests back to back, one at a time, for ``seconds``."""
    phase = Phase()
    lock = threading.Lock()
    start_line = threading.Barrier(len(clients) + 1)
    stop_at = 0.0

    def run(client: httpx.Client, rng: random.Random) -> None:
        latencies: list[float] = []
        errors, size, first_error = 0, 0, None
        start_line.wait()
        while True:
            began = time.perf_counter()
            if began >= stop_at:
                break
            try:
                response = request(client, rng)
                ok = 200 <= response.status_code < 300
                size += len(response.content)
                failure = f"HTTP {response.status_code}: {response.text[:500]}"
            except httpx.HTTPError as error:
                ok, failure = False, f"{type(error).__name__}: {error}"
            latencies.append(time.perf_counter() - began)
            if not ok:
                errors += 1
                first_error = first_error or failure
        with lock:
            phase.latencies.extend(latencies)
            phase.errors += errors
            phase.response_bytes += size
            phase.first_error = phase.first_error or first_error

    # Fresh picks each run, so a reused database does not pile up queries on a few subjects.
    threads = [
        threading.Thread(target=run, args=(client, random.Random(secrets.randbits(64))))
        for client in clients
    ]
    for thread in threads:
        thread.start()
    server_meter, database_meter = meters
    server_cpu, database_cpu = server_meter(), database_meter()
    client_cpu = time.process_time()
    started = time.perf_counter()
    stop_at = started + seconds
    start_line.wait()
    for thread in threads:
        thread.join()
    phase.elapsed = time.perf_counter() - started
    phase.server_cpu = _delta(server_cpu, server_meter())
    phase.database_cpu = _delta(database_cpu, database_meter())
    phase.client_cpu = time.process_time() - client_cpu
    return phase


def percentile(ordered: list[float], share: float) -> float:
    """Nearest-rank percentile of sorted values."""
    return ordered[max(math.ceil(share * len(ordered)) - 1, 0)]


@dataclass(frozen=True)
class Measured:
    endpoint: str
    phase: Phase

    @property
    def rate(self) -> float:
        return len(self.phase.latencies) / self.phase.elapsed

    @property
    def p99_ms(self) -> float:
        return percentile(sorted(self.phase.latencies), 0.99) * 1000

    def share(self, cpu: float | None) -> str:
        return f"{cpu / self.phase.elapsed:.0%}" if cpu is not None else "-"

    def row(self) -> str:
        ordered = sorted(self.phase.latencies)
        count = len(ordered)
        size = self.phase.response_bytes / count if count else 0
        return (
            f"{self.endpoint:<18}{count:>9,}{self.rate:>9,.0f}"
            f"{percentile(ordered, 0.5) * 1000:>8.1f}{self.p99_ms:>8.1f}"
            f"{ordered[-1] * 1000:>8.1f}{self.phase.errors:>7}{size:>8,.0f}"
            f"{self.share(self.phase.server_cpu):>8}{self.share(self.phase.database_cpu):>6}"
            f"{self.share(self.phase.client_cpu):>8}"
        )


HEADER = (
    f"{'endpoint':<18}{'requests':>9}{'req/s':>9}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}"
    f"{'errors':>7}{'bytes':>8}{'server':>8}{'db':>6}{'client':>8}"
)


def measure(
    server: Server,
    loaded: Loaded,
    clients: int,
    warmup: float,
    seconds: float,
    database_meter: Meter = no_meter,
) -> list[Measured]:
    """Warm up, then measure GET /health and then POST /v1/reports, with the same clients."""
    headers = {"Authorization": f"Bearer {loaded.api_key}"}
    subject_ids = loaded.subject_ids
    meters = (process_cpu(server.pid), database_meter)

    def health(client: httpx.Client, _: random.Random) -> httpx.Response:
        return client.get("/health")

    def report(client: httpx.Client, rng: random.Random) -> httpx.Response:
        body = {"subject": {"subject_id": rng.choice(subject_ids)}, "purpose": PURPOSE}
        return client.post("/v1/reports", json=body, headers=headers)

    pool = [
        httpx.Client(
            base_url=server.base,
            timeout=30,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )
        for _ in range(clients)
    ]
    try:
        results = []
        for endpoint, request in (("GET /health", health), ("POST /v1/reports", report)):
            drive(pool, request, warmup, meters)
            results.append(Measured(endpoint, drive(pool, request, seconds, meters)))
        return results
    finally:
        for client in pool:
            client.close()


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def main() -> None:
    # pgserver's platformdirs complains about XDG_RUNTIME_DIR on headless machines.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subjects", type=int, default=100_000)
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 2,000 subjects, 2 s phases"
    )
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before measuring")
    parser.add_argument(
        "--backend", action="append", choices=("sqlite", "postgresql"), default=None
    )
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--log-level", default="warning", help="server log level")
    parser.add_argument(
        "--reload", action="store_true", help="load the SQLite database afresh, not reuse it"
    )
    args = parser.parse_args()
    if args.quick:
        args.subjects, args.duration, args.warmup = 2_000, 2.0, 1.0
    backends = args.backend or ["sqlite", "postgresql"]
    settings = Settings()
    began = time.perf_counter()

    persons, enterprises = split_subjects(args.subjects)
    root, manifest, generated = population(persons, enterprises, args.seed)
    rows = sum(spec.rows for spec in manifest.files)
    print(
        f"population: {persons:,} persons, {enterprises:,} enterprises, seed {args.seed}; "
        f"{len(manifest.files)} batch files, {rows:,} rows "
        + (f"(generated in {generated:.0f} s)" if generated else "(cached)")
    )
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{sys.version.split()[0]}; server: xinyong serve (uvicorn, 1 worker process, log "
        f"level {args.log_level}); {args.clients} clients, keep-alive, {args.warmup:g} s "
        f"warm-up + {args.duration:g} s measured per endpoint",
        flush=True,
    )
    timings: dict[str, float] = {"generation": generated, "loading": 0.0, "measurement": 0.0}
    summary: list[str] = []
    with tempfile.TemporaryDirectory(prefix="xinyong-bench-") as tmp:
        workdir = Path(tmp)
        with postgres_server(workdir) if "postgresql" in backends else _none() as admin:
            for backend in backends:
                print(f"\n== {backend} ==", flush=True)
                database = (
                    sqlite_database(root, manifest, settings, args.reload)
                    if backend == "sqlite"
                    else postgresql_database(root, manifest, settings, workdir, str(admin))
                )
                with database as (url, key_file, how, loading):
                    timings["loading"] += loading
                    engine = make_engine(url)
                    try:
                        loaded = prepare_querier(engine)
                    finally:
                        engine.dispose()
                    kinds = ", ".join(f"{k} {n:,}" for k, n in sorted(loaded.subjects.items()))
                    print(
                        f"data: {how}"
                        + (f" in {loading:.0f} s ({rows / loading:,.0f} rows/s)" if loading else "")
                        + f"\n      subjects {sum(loaded.subjects.values()):,} ({kinds}); "
                        f"records {loaded.records:,}; versions {loaded.versions:,}; "
                        f"consents {loaded.consents:,}; query records before the run "
                        f"{loaded.query_records:,}",
                        flush=True,
                    )
                    start = time.perf_counter()
                    with server(url, key_file, workdir, args.log_level) as running:
                        results = measure(
                            running,
                            loaded,
                            args.clients,
                            args.warmup,
                            args.duration,
                            postgres_cpu if backend == "postgresql" else no_meter,
                        )
                    timings["measurement"] += time.perf_counter() - start
                print()
                print(HEADER)
                print("-" * len(HEADER))
                for result in results:
                    print(result.row())
                health, report = results
                share = report.rate / health.rate
                for result in results:
                    if result.phase.first_error:
                        print(f"first error of {result.endpoint}: {result.phase.first_error}")
                lines = [
                    f"reports / health: {share:.0%} (target >= {TARGET_SHARE:.0%}: "
                    f"{verdict(share >= TARGET_SHARE)})",
                    f"report p99: {report.p99_ms:.1f} ms at {args.clients} clients "
                    f"(target <= {TARGET_P99_MS:.0f} ms: "
                    f"{verdict(report.p99_ms <= TARGET_P99_MS)})",
                ]
                print("\n".join(lines), flush=True)
                summary.extend(f"{backend:<11}{line}" for line in lines)
    total = time.perf_counter() - began
    print("\nsummary")
    print("\n".join(summary))
    print(
        f"\ntime: generation {timings['generation']:.0f} s, loading {timings['loading']:.0f} s, "
        f"measurement {timings['measurement']:.0f} s, total {total:.0f} s"
    )
    print(
        "\nbytes   mean response body\n"
        "server  CPU time of the server process (with SQLite, the database works inside it)\n"
        "db      CPU time of all postgres processes on the machine (PostgreSQL only)\n"
        "client  CPU time of this load-generating process\n"
        "        each as a share of one core over the measured phase; the machine has "
        f"{os.cpu_count()} cores"
    )


@contextmanager
def _none() -> Iterator[None]:
    yield None


if __name__ == "__main__":
    main()

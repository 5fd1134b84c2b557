"""Restriction and eligibility checks, in process and over HTTP beside the same server's /health.

    python benchmarks/checks.py [--subjects 100000] [--entries 10000] [--checks 100000]
                                [--clients 4] [--duration 10] [--backend sqlite
                                --backend postgresql] [--quick] [--no-http]

For each database it loads the synthetic population of ``report_latency.py`` (one enterprise
to nine persons) through the real ingestion path, and then the lists the real way: a court
furnisher submits a batch of ``dishonest_debtor_listing`` records (the six grounds of
法释〔2017〕7号 in the mix the synthetic population uses; some with a longer term, as if
extended), which the ingestion transaction turns into list entries, so that exactly
``--entries`` court entries are active today. The same batch holds listings that have run
past their two-year term (left ``active`` in storage: the maintenance job has not run, so
every check evaluates the term itself, the costlier case) and listings removed on
performance. An operator binds a tenth of the listed organisations' entries to a legal
representative or actual controller (``add_binding``). The population's own
``tax_credit_grade`` records with grade A and its commendations are the trustworthy
entries. A querying institution (an airline) gets an API key.

Half of the subjects checked hold an active negative entry (their own or, as a legal
representative, an organisation's), half hold none; the checks are a fixed mix of
restriction checks for one measure, restriction checks for every measure and eligibility
checks (for one incentive and for all). Each names the subject by identifier.

* **In process** — ``--checks`` checks one after another, each as the route serves it: a
  session, the subject resolved by identifier, the decision, the query record, the commit.
  It prints count, p50, p90, p99, max and mean of each step — resolving the subject, the
  decision alone, the query record with the commit, decision + record + commit, the whole
  check — and checks/s, beside the floor of a transaction (session, ``SELECT 1``, commit)
  measured in the same run, and the whole check per kind of check.
* **Over HTTP** — the real server (``xinyong serve``: uvicorn, one worker process) driven
  by concurrent clients, each over its own keep-alive connection: ``GET /health`` (the
  ceiling) and then ``POST /v1/checks/restriction`` with the same clients, each with a
  warm-up and a measured phase. It prints req/s, p50, p99 and max, the CPU used by the
  server, the database and the load generator, and checks req/s as a share of health req/s.
  The server runs with ``XINYONG_EVENTS_WORKER=off``: its embedded worker would otherwise
  run the lists' daily job and fan out the load's outbox events during the measured phases.

Targets (the lists issue): in-process p99 at most 5 ms; HTTP check throughput at least 50 %
of ``/health``.

The batch files and the loaded SQLite database (with its key file) are cached under
``benchmarks/.data/`` and reused while the population, the lists and the catalog match and
as many court entries are still active (terms run by the calendar; ``--reload`` loads them
afresh); each run works on a fresh copy of the cached database, so runs do not pile up
query records. PostgreSQL (``--backend postgresql``) comes from
``XINYONG_BENCH_DATABASE_URL`` or an embedded ``pgserver`` and is loaded afresh each run.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import shutil
import sqlite3
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import httpx2 as httpx
from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from ingest import postgres_server
from report_latency import (
    DATA_DIR,
    HEADER,
    SEED,
    Measured,
    drive,
    load,
    no_meter,
    percentile,
    population,
    postgres_cpu,
    postgresql_database,
    process_cpu,
    server,
    split_subjects,
    verdict,
)
from xinyong import migrate
from xinyong.api.onehop import work_session
from xinyong.config import Settings
from xinyong.db import in_batches, make_engine, make_session_factory, transaction, utcnow
from xinyong.identity.crypto import KeyRing, load_keyring
from xinyong.identity.identifiers import make_uscc
from xinyong.identity.models import Subject
from xinyong.identity.service import IDENTIFIER_CONTEXT, NAME_CONTEXT, count_subjects_by_kind
from xinyong.ingestion.readers import FileFormat
from xinyong.ingestion.tasks import ingest_file
from xinyong.institutions.schemas import InstitutionCreate, InstitutionKind, Principal, Role
from xinyong.institutions.service import (
    authenticate,
    create_institution,
    get_institution_by_code,
    issue_api_key,
)
from xinyong.ledger.service import ledger_keys
from xinyong.lists import service
from xinyong.lists.definitions import BindingRole, get_definitions
from xinyong.lists.models import EntryBinding, ListEntry
from xinyong.records.service import count_records_by_type
from xinyong.reports.models import QueryRecord
from xinyong.reports.schemas import Channel, SubjectSelector
from xinyong.reports.service import resolve_selector_key
from xinyong.synth.service import SynthManifest

# Bump when the lists layer below changes, so a cached database is loaded afresh.
LISTS_LAYOUT = 1
COURT_LIST = "court_dishonest_debtors"
CHECKER = InstitutionCreate(
    code="bench-airline",
    name="基准测试航空股份有限公司",
    name_en="Benchmark Airlines Co., Ltd.",
    kind=InstitutionKind.OTHER,
    uscc=make_uscc("9", "1", "310115", "BENCHA01"),
    is_querier=True,
)
OPERATOR = Principal(
    api_key_id=None,
    role=Role.OPERATOR,
    institution_id=None,
    institution_code=None,
    label="benchmark operator",
)
# The grounds of 法释〔2017〕7号 Art. 1, weighted as the synthetic population weights them.
GROUNDS = (
    ("able_but_refuses", 50),  # until performance: no planned end
    ("evades_enforcement", 20),
    ("false_asset_report", 10),
    ("obstructs_enforcement", 8),
    ("breaches_spending_ban", 7),
    ("breaches_settlement", 5),
)
COURTS = (
    ("京0105", "北京市朝阳区人民法院"),
    ("京0108", "北京市海淀区人民法院"),
    ("京0101", "北京市东城区人民法院"),
    ("京0102", "北京市西城区人民法院"),
    ("京0106", "北京市丰台区人民法院"),
    ("京0112", "北京市通州区人民法院"),
)
# The mix of checks: (check, with one measure?) and its weight.
MIX = (
    (("restriction", True), 50),
    (("restriction", False), 20),
    (("eligibility", True), 15),
    (("eligibility", False), 15),
)
# Over HTTP: restriction checks, 70 % for one measure.
HTTP_ONE_MEASURE = 0.7
TARGET_P99_MS = 5.0
TARGET_SHARE = 0.5
# Clean subjects to draw checks from (their identifiers are decrypted up front).
CLEAN_POOL = 50_000


# --- the lists, the real way ------------------------------------------------------------------


def court_furnisher(session: Session, manifest: SynthManifest) -> tuple[int, str]:
    """The population's first court furnishing listing records: (institution id, name)."""
    for spec in manifest.furnishers:
        if "dishonest_debtor_listing" in spec.record_types:
            return get_institution_by_code(session, spec.code).id, spec.name_zh
    raise SystemExit("the population has no court furnishing dishonest_debtor_listing records")


def active_today(today: date) -> ColumnElement[bool]:
    """Entries that count as active today: stored active and not past their planned end."""
    return and_(
        ListEntry.status == "active",
        or_(ListEntry.planned_end_date.is_(None), ListEntry.planned_end_date >= today),
    )


@dataclass
class ListingPlan:
    active: list[int] = field(default_factory=list)  # one subject id per new active entry
    expired: list[int] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)
    bound_persons: list[int] = field(default_factory=list)


def plan_listings(
    session: Session, target: int, today: date, rng: random.Random
) -> tuple[ListingPlan, int]:
    """Whom the new listings name, so that ``target`` court entries are active today."""
    existing = session.scalar(
        select(func.count())
        .select_from(ListEntry)
        .where(ListEntry.list_type == COURT_LIST, active_today(today))
    )
    existing = existing or 0
    new_active = target - existing
    if new_active < 0:
        raise SystemExit(f"the population already has {existing:,} active court entries")
    on_court_list = set(
        session.scalars(select(ListEntry.subject_id).where(ListEntry.list_type == COURT_LIST))
    )
    persons, organisations = [], []
    for subject_id, kind in session.execute(select(Subject.id, Subject.kind)):
        if subject_id not in on_court_list:
            (persons if kind == "person" else organisations).append(subject_id)
    rng.shuffle(persons)
    rng.shuffle(organisations)

    def take(count: int) -> list[int]:
        """Fresh subjects, three persons to one organisation."""
        chosen = []
        for _ in range(count):
            pool = organisations if rng.random() < 0.25 else persons
            if not pool:
                raise SystemExit("too few subjects for the lists asked for; lower --entries")
            chosen.append(pool.pop())
        return chosen

    plan = ListingPlan()
    # About one listed debtor in twelve has a second case.
    seconds = new_active // 12
    plan.active = take(new_active - seconds)
    plan.active += [rng.choice(plan.active) for _ in range(seconds)] if plan.active else []
    plan.expired = take(target // 10)
    plan.removed = take(target // 20)
    plan.bound_persons = [persons.pop() for _ in range(min(target // 10, len(persons)))]
    return plan, existing


def listing_rows(
    session: Session,
    keys: KeyRing,
    plan: ListingPlan,
    today: date,
    rng: random.Random,
) -> list[dict[str, object]]:
    """The court's batch: dishonest_debtor_listing records as a court furnishes them."""
    wanted = sorted({*plan.active, *plan.expired, *plan.removed})
    subjects: dict[int, Subject] = {}
    for chunk in in_batches(wanted):
        subjects.update(
            {s.id: s for s in session.scalars(select(Subject).where(Subject.id.in_(chunk)))}
        )
    grounds, weights = zip(*GROUNDS, strict=True)
    serials: Counter[tuple[str, int]] = Counter()
    rows: list[dict[str, object]] = []

    def row(subject_id: int, ground: str, listed: date, **more: object) -> None:
        subject = subjects[subject_id]
        code, court = rng.choice(COURTS)
        serials[code, listed.year] += rng.randint(1, 9)
        due = rng.randint(5_000, 2_000_000)
        ended = more.get("removal_date")
        rows.append(
            {
                "record_type": "dishonest_debtor_listing",
                "record_key": f"DLB-{len(rows) + 1:07d}",
                "subject_id_type": subject.id_type,
                "subject_identifier": keys.decrypt_text(subject.identifier_ct, IDENTIFIER_CONTEXT),
                "subject_name": (
                    keys.decrypt_text(subject.name_ct, NAME_CONTEXT) if subject.name_ct else "-"
                ),
                "valid_from": str(ended or listed.isoformat()),
                "case_number": f"（{listed.year}）{code}执{1000 + serials[code, listed.year]}号",
                "court": court,
                "ground": ground,
                "obligation": f"支付款项人民币{due}.00元及迟延履行期间的债务利息",
                "performance": "not_performed",
                "listing_date": listed.isoformat(),
                **more,
            }
        )

    for subject_id in plan.active:
        ground = rng.choices(grounds, weights)[0]
        if ground == "able_but_refuses":  # lasts until performance
            row(subject_id, ground, today - timedelta(days=rng.randint(1, 5 * 365)))
            continue
        # A two-year term that has not run out (730 days at the least).
        listed = today - timedelta(days=rng.randint(1, 700))
        more: dict[str, object] = {}
        if rng.random() < 0.3:
            more["performance"] = "partially_performed"
        if rng.random() < 0.05:  # extended by the court by one to three years
            extended = service.add_months(listed, 24 + 12 * rng.randint(1, 3))
            more["term_end_date"] = extended.isoformat()
        row(subject_id, ground, listed, **more)
    termed = [g for g in grounds if g != "able_but_refuses"]
    for subject_id in plan.expired:
        # Past its two-year term: ended, though no record says so and no job has run.
        row(subject_id, rng.choice(termed), today - timedelta(days=rng.randint(760, 1500)))
    for subject_id in plan.removed:
        listed = today - timedelta(days=rng.randint(60, 1000))
        removed = listed + timedelta(days=rng.randint(20, 55))
        row(
            subject_id,
            rng.choices(grounds, weights)[0],
            listed,
            performance="performed",
            removal_date=removed.isoformat(),
            removal_reason="performed",
        )
    return rows


def load_lists(
    engine: Engine, keys: KeyRing, manifest: SynthManifest, target: int, workdir: Path, seed: int
) -> None:
    """The court's listings through ingestion, the bindings, and the checking institution."""
    factory = make_session_factory(engine, ledger=ledger_keys(keys, Settings()))
    settings = Settings()
    today = utcnow().date()
    rng = random.Random(seed)
    with transaction(factory) as session:
        furnisher_id, _ = court_furnisher(session, manifest)
        plan, _ = plan_listings(session, target, today, rng)
        rows = listing_rows(session, keys, plan, today, rng)
        create_institution(session, keys, CHECKER)
    path = workdir / "court-listings.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    result = ingest_file(
        factory,
        keys,
        furnisher_id=furnisher_id,
        path=path,
        file_format=FileFormat.JSONL,
        idempotency_key=f"bench-checks:{seed}:{target}",
        source="benchmark",
        filename=path.name,
        chunk_rows=settings.ingest_chunk_rows,
        workers=settings.ingest_workers,
        worker_min_rows=settings.ingest_worker_min_rows,
    )
    if result.rows.rejected or result.rows.created != len(rows):
        raise SystemExit(f"the court's listings were not all accepted: {result.rows}")
    # An operator binds listed organisations' entries to their legal representatives (and
    # some to actual controllers), as from the business licence.
    with transaction(factory) as session:
        new_organisations = session.scalars(
            select(ListEntry.id)
            .join(Subject, Subject.id == ListEntry.subject_id)
            .where(
                ListEntry.list_type == COURT_LIST,
                ListEntry.source == "record",
                ListEntry.subject_id.in_(set(plan.active)),
                Subject.kind != "person",
                active_today(today),
            )
            .order_by(ListEntry.id)
        ).all()
        chosen = rng.sample(
            list(new_organisations), min(len(plan.bound_persons), len(new_organisations))
        )
        for entry_id, person_id in zip(chosen, plan.bound_persons, strict=False):
            person = session.get(Subject, person_id)
            assert person is not None
            role = (
                BindingRole.ACTUAL_CONTROLLER
                if rng.random() < 0.15
                else BindingRole.LEGAL_REPRESENTATIVE
            )
            service.add_binding(
                session, OPERATOR, entry_id, person, role, "business licence (benchmark)"
            )
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("ANALYZE")


# --- databases --------------------------------------------------------------------------------


@contextmanager
def sqlite_database(
    root: Path, manifest: SynthManifest, settings: Settings, entries: int, seed: int, reload: bool
) -> Iterator[tuple[str, Path, str, float]]:
    """A fresh copy of the cached SQLite database: (url, key file, how, seconds loading)."""
    home = DATA_DIR / f"sqlite-checks-{root.name}-a{entries}"
    marker, database, key_file = home / "loaded.json", home / "xinyong.db", home / "keys.json"
    wanted = {
        "population": root.name,
        "catalog_version": manifest.catalog_version,
        "lists": get_definitions().version,
        "entries": entries,
        "seed": seed,
        "layout": LISTS_LAYOUT,
    }
    reusable = not reload and marker.exists() and database.exists()
    if reusable and json.loads(marker.read_text()).get("wanted") == wanted:
        # Terms run by the calendar: reuse the lists while as many entries are still active.
        engine = make_engine(f"sqlite:///{database}")
        try:
            with engine.connect() as connection:
                active = connection.scalar(
                    select(func.count())
                    .select_from(ListEntry)
                    .where(ListEntry.list_type == COURT_LIST, active_today(utcnow().date()))
                )
        finally:
            engine.dispose()
        reusable = active == entries
    else:
        reusable = False
    elapsed = 0.0
    if reusable:
        loaded_on = json.loads(marker.read_text())["loaded_on"]
        how = f"reused {database.relative_to(DATA_DIR.parent.parent)} (loaded on {loaded_on})"
    else:
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        keys = load_keyring(Settings(data_dir=home, key_file=key_file))
        start = time.perf_counter()
        engine = make_engine(f"sqlite:///{database}")
        try:
            load(engine, keys, root, manifest, settings)
            load_lists(engine, keys, manifest, entries, home, seed)
        finally:
            engine.dispose()
        elapsed = time.perf_counter() - start
        marker.write_text(json.dumps({"wanted": wanted, "loaded_on": utcnow().date().isoformat()}))
        how = f"loaded into {database.relative_to(DATA_DIR.parent.parent)}"
    # Each run on its own copy, on the same disk: runs do not pile up query records.
    run = home / "run"
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir()
    copy = run / "xinyong.db"
    source, target = sqlite3.connect(database), sqlite3.connect(copy)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()
    url = f"sqlite:///{copy}"
    engine = make_engine(url)
    migrate.upgrade(engine)  # a newer schema since it was loaded
    engine.dispose()
    try:
        yield url, key_file, how + ", run on a copy", elapsed
    finally:
        shutil.rmtree(run, ignore_errors=True)


@contextmanager
def postgresql_lists(
    root: Path,
    manifest: SynthManifest,
    settings: Settings,
    workdir: Path,
    admin: str,
    entries: int,
    seed: int,
) -> Iterator[tuple[str, Path, str, float]]:
    """A fresh PostgreSQL database with the population and the lists; dropped afterwards."""
    with postgresql_database(root, manifest, settings, workdir, admin) as (
        url,
        key_file,
        how,
        loading,
    ):
        keys = load_keyring(Settings(data_dir=workdir, key_file=key_file))
        start = time.perf_counter()
        engine = make_engine(url)
        try:
            load_lists(engine, keys, manifest, entries, workdir, seed)
        finally:
            engine.dispose()
        yield url, key_file, how, loading + time.perf_counter() - start


# --- what the database holds ------------------------------------------------------------------


@dataclass
class Census:
    subjects: dict[str, int]
    records: int
    query_records: int
    # Entries by (list type, status as of today).
    entries: Counter[tuple[str, str]]
    bindings: int
    bindings_active: int
    listed: list[int]  # subjects with an active negative entry, own or bound
    bound_only: int  # of them, listed only through a binding
    clean: list[int]
    trustworthy_clean: int  # clean subjects with an active positive entry
    api_key: str
    identifiers: dict[int, str]


def census(engine: Engine, keys: KeyRing, pool: int, rng: random.Random) -> Census:
    """Count what the database holds as of today; issue the checker an API key."""
    today = utcnow().date()
    definitions = get_definitions()
    negative = [t.code for t in definitions.list_types if t.polarity == "negative"]
    factory = make_session_factory(engine, ledger=ledger_keys(keys, Settings()))
    with transaction(factory) as session:
        checker = get_institution_by_code(session, CHECKER.code)
        api_key = issue_api_key(session, Role.QUERIER, checker, "checks benchmark").api_key
        entries: Counter[tuple[str, str]] = Counter()
        for entry in session.scalars(select(ListEntry)):
            entries[entry.list_type, service.effective_status(entry, today).value] += 1
        own = set(
            session.scalars(
                select(ListEntry.subject_id).where(
                    ListEntry.list_type.in_(negative), active_today(today)
                )
            )
        )
        bound = set(
            session.scalars(
                select(EntryBinding.subject_id)
                .join(ListEntry, ListEntry.id == EntryBinding.entry_id)
                .where(ListEntry.list_type.in_(negative), active_today(today))
            )
        )
        bindings = session.scalar(select(func.count()).select_from(EntryBinding)) or 0
        positive = set(
            session.scalars(
                select(ListEntry.subject_id).where(
                    ListEntry.list_type.not_in(negative), active_today(today)
                )
            )
        )
        listed = own | bound
        clean = [
            s for s in session.scalars(select(Subject.id).order_by(Subject.id)) if s not in listed
        ]
        listed_ids = sorted(listed)
        clean_pool = sorted(rng.sample(clean, min(pool, len(clean))))
        identifiers: dict[int, str] = {}
        for chunk in in_batches([*listed_ids, *clean_pool]):
            for subject in session.scalars(select(Subject).where(Subject.id.in_(chunk))):
                identifiers[subject.id] = keys.decrypt_text(
                    subject.identifier_ct, IDENTIFIER_CONTEXT
                )
        return Census(
            subjects=count_subjects_by_kind(session),
            records=sum(count_records_by_type(session).values()),
            query_records=session.scalar(select(func.count()).select_from(QueryRecord)) or 0,
            entries=entries,
            bindings=bindings,
            bindings_active=len(bound),
            listed=listed_ids,
            bound_only=len(bound - own),
            clean=clean_pool,
            trustworthy_clean=len(positive - listed),
            api_key=api_key,
            identifiers=identifiers,
        )


def describe(census: Census) -> str:
    definitions = get_definitions()
    by_list: dict[str, Counter[str]] = {}
    for (list_type, status), count in census.entries.items():
        by_list.setdefault(list_type, Counter())[status] += count
    lines = []
    for list_type in definitions.list_types:
        counts = by_list.get(list_type.code)
        if not counts:
            continue
        statuses = ", ".join(
            f"{status} {count:,}" for status, count in counts.most_common() if status != "active"
        )
        lines.append(
            f"      {list_type.code:<26}{list_type.polarity:<10}active today "
            f"{counts['active']:>7,}" + (f"   ({statuses})" if statuses else "")
        )
    return "\n".join(lines)


# --- in process -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    check: str  # restriction | eligibility
    measure: str | None
    identifier: str
    listed: bool

    @property
    def label(self) -> str:
        what = "one measure" if self.measure else "all measures"
        return f"{self.check}, {what}, {'listed' if self.listed else 'clean'}"


def plan_checks(census: Census, count: int, rng: random.Random) -> list[Check]:
    """``count`` checks, alternately of a listed and of a clean subject, in the fixed mix."""
    definitions = get_definitions()
    restrictions = [m.code for m in definitions.measures if m.kind == "restriction"]
    incentives = [m.code for m in definitions.measures if m.kind == "incentive"]
    kinds, weights = zip(*MIX, strict=True)
    checks = []
    for n in range(count):
        listed = n % 2 == 0
        subject = rng.choice(census.listed if listed else census.clean)
        check, one = rng.choices(kinds, weights)[0]
        measure = None
        if one:
            measure = rng.choice(restrictions if check == "restriction" else incentives)
        checks.append(Check(check, measure, census.identifiers[subject], listed))
    return checks


STEPS = (
    "resolve subject",
    "decision",
    "query record + commit",
    "decision + record + commit",
    "whole check",
)


@dataclass
class InProcess:
    steps: dict[str, list[float]]
    by_label: dict[str, list[float]]
    floor: list[float]
    elapsed: float
    cpu: float
    allowed: Counter[tuple[str, bool]]


def run_in_process(
    engine: Engine, keys: KeyRing, api_key: str, checks: Sequence[Check], warmup: int
) -> InProcess:
    """Each check as the route serves it: session, subject, decision, query record, commit."""
    factory: sessionmaker[Session] = make_session_factory(
        engine, ledger=ledger_keys(keys, Settings())
    )
    with factory() as session:
        principal = authenticate(session, api_key)
    steps: dict[str, list[float]] = {step: [] for step in STEPS}
    by_label: dict[str, list[float]] = {}
    allowed: Counter[tuple[str, bool]] = Counter()
    clock = time.perf_counter

    def one(check: Check, record: bool) -> None:
        began = clock()
        session = work_session(factory, single_write=True)
        try:
            selector = SubjectSelector(identifier=check.identifier)
            subject = resolve_selector_key(session, keys, selector)
            resolved = clock()
            if check.check == "restriction":
                decision = service.check_restriction(session, subject, check.measure)
            else:
                decision = service.check_eligibility(session, keys, subject, check.measure)
            decided = clock()
            service.record_check(session, principal, subject, decision, channel=Channel.API)
            session.commit()
            committed = clock()
        finally:
            session.close()
        ended = clock()
        if not record:
            return
        steps["resolve subject"].append(resolved - began)
        steps["decision"].append(decided - resolved)
        steps["query record + commit"].append(committed - decided)
        steps["decision + record + commit"].append(committed - resolved)
        steps["whole check"].append(ended - began)
        by_label.setdefault(check.label, []).append(ended - began)
        allowed[check.check, decision.allowed] += 1

    for check in checks[:warmup]:
        one(check, record=False)
    # The floor: a transaction that does nothing, the same way.
    floor = []
    for _ in range(max(len(checks) // 10, 100)):
        began = clock()
        session = factory()
        try:
            session.execute(text("SELECT 1"))
            session.commit()
        finally:
            session.close()
        floor.append(clock() - began)
    # The harness's own objects (the planned checks above all) out of the collector's full
    # passes: they are no part of a check.
    gc.collect()
    gc.freeze()
    cpu, started = time.process_time(), clock()
    for check in checks[warmup:]:
        one(check, record=True)
    elapsed = clock() - started
    gc.unfreeze()
    return InProcess(steps, by_label, floor, elapsed, time.process_time() - cpu, allowed)


def stat_row(name: str, values: list[float], rate: str = "") -> str:
    ordered = sorted(values)
    mean = sum(ordered) / len(ordered)
    return (
        f"{name:<40}{len(ordered):>9,}"
        + "".join(f"{percentile(ordered, p) * 1000:>8.2f}" for p in (0.5, 0.9, 0.99))
        + f"{ordered[-1] * 1000:>8.1f}{mean * 1000:>8.2f}{rate:>10}"
    )


STAT_HEADER = (
    f"{'':<40}{'count':>9}{'p50 ms':>8}{'p90 ms':>8}{'p99 ms':>8}{'max ms':>8}{'mean ms':>8}"
    f"{'checks/s':>10}"
)


def print_in_process(result: InProcess) -> float:
    """Print the in-process tables; returns the whole check's p99 in ms."""
    whole = result.steps["whole check"]
    rate = len(whole) / result.elapsed
    print(STAT_HEADER)
    print("-" * len(STAT_HEADER))
    print(stat_row("floor: session, SELECT 1, commit", result.floor))
    for step in STEPS:
        print(stat_row(step, result.steps[step], f"{rate:,.0f}" if step == "whole check" else ""))
    print(f"\nwhole check by kind{'':<21}")
    for label in sorted(result.by_label):
        print(stat_row(f"  {label}", result.by_label[label]))
    answers = ", ".join(
        f"{check} {'allowed' if ok else 'refused'} {count:,}"
        for (check, ok), count in sorted(result.allowed.items())
    )
    print(
        f"\nanswers: {answers}; {rate:,.0f} checks/s, CPU {result.cpu / result.elapsed:.0%} "
        "of one core"
    )
    return percentile(sorted(whole), 0.99) * 1000


# --- over HTTP --------------------------------------------------------------------------------


def measure_http(
    base: str,
    pid: int,
    census: Census,
    clients: int,
    warmup: float,
    seconds: float,
    database_meter: Callable[[], dict[int, float] | None],
) -> list[Measured]:
    """Warm up, then measure GET /health and then POST /v1/checks/restriction."""
    headers = {"Authorization": f"Bearer {census.api_key}"}
    restrictions = [m.code for m in get_definitions().measures if m.kind == "restriction"]
    listed = [census.identifiers[s] for s in census.listed]
    clean = [census.identifiers[s] for s in census.clean]
    meters = (process_cpu(pid), database_meter)

    def health(client: httpx.Client, _: random.Random) -> httpx.Response:
        return client.get("/health")

    def restriction(client: httpx.Client, rng: random.Random) -> httpx.Response:
        identifier = rng.choice(listed if rng.random() < 0.5 else clean)
        body: dict[str, object] = {"subject": {"identifier": identifier}}
        if rng.random() < HTTP_ONE_MEASURE:
            body["measure"] = rng.choice(restrictions)
        return client.post("/v1/checks/restriction", json=body, headers=headers)

    pool = [
        httpx.Client(
            base_url=base,
            timeout=30,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )
        for _ in range(clients)
    ]
    try:
        results = []
        for endpoint, request in (
            ("GET /health", health),
            ("POST /v1/checks/restriction", restriction),
        ):
            drive(pool, request, warmup, meters)
            results.append(Measured(endpoint, drive(pool, request, seconds, meters)))
        return results
    finally:
        for client in pool:
            client.close()


# --- main -------------------------------------------------------------------------------------


def print_data(facts: Census, how: str, loading: float, asked: int) -> None:
    court_active = facts.entries[COURT_LIST, "active"]
    kinds = ", ".join(f"{k} {n:,}" for k, n in sorted(facts.subjects.items()))
    print(
        f"data: {how}" + (f" in {loading:.0f} s" if loading else "") + "\n"
        f"      subjects {sum(facts.subjects.values()):,} ({kinds}); records "
        f"{facts.records:,}; query records before the run {facts.query_records:,}\n"
        "lists (status as of today; the maintenance job has not run):\n"
        f"{describe(facts)}\n"
        f"      bindings {facts.bindings:,} (persons bound to active entries "
        f"{facts.bindings_active:,})\n"
        f"      active court entries {court_active:,}, asked for {asked:,}: "
        f"{'ok' if court_active == asked else 'DIFFERENT'}\n"
        f"subjects checked: {len(facts.listed):,} listed (an active negative entry, "
        f"{facts.bound_only:,} of them only as legal representative or controller) and a "
        f"sample of {len(facts.clean):,} clean ones (none; of all clean subjects "
        f"{facts.trustworthy_clean:,} hold an active trustworthy entry), alternately",
        flush=True,
    )
    mix = ", ".join(
        f"{check} {'one measure' if one else 'all measures'} {weight}%"
        for (check, one), weight in MIX
    )
    print(f"mix: {mix}\n", flush=True)


def run_backend(
    backend: str,
    database: AbstractContextManager[tuple[str, Path, str, float]],
    args: argparse.Namespace,
    workdir: Path,
    timings: dict[str, float],
) -> list[str]:
    """Load (or reuse) the data, run the checks in process and then over HTTP; print."""
    warmup = min(args.checks // 10, 1000)
    with database as (url, key_file, how, loading):
        timings["loading"] += loading
        keys = load_keyring(Settings(data_dir=workdir, key_file=key_file))
        rng = random.Random(args.seed)
        engine = make_engine(url)
        try:
            facts = census(engine, keys, CLEAN_POOL, rng)
            print_data(facts, how, loading, args.entries)
            checks = plan_checks(facts, args.checks + warmup, rng)
            print(
                "in process: one thread, each check in its own session and transaction, as "
                "the route serves it"
            )
            start = time.perf_counter()
            result = run_in_process(engine, keys, facts.api_key, checks, warmup)
            timings["in process"] += time.perf_counter() - start
        finally:
            engine.dispose()
        p99 = print_in_process(result)
        lines = [
            f"in-process check p99: {p99:.2f} ms (target <= {TARGET_P99_MS:g} ms: "
            f"{verdict(p99 <= TARGET_P99_MS)})"
        ]
        if args.no_http:
            print("\n" + "\n".join(lines), flush=True)
            return [f"{backend:<11}{line}" for line in lines]
        start = time.perf_counter()
        with server(url, key_file, workdir, args.log_level) as running:
            meter = postgres_cpu if backend == "postgresql" else no_meter
            measured = measure_http(
                running.base, running.pid, facts, args.clients, args.warmup, args.duration, meter
            )
        timings["http"] += time.perf_counter() - start
    print(
        f"\nover HTTP: {args.clients} clients; restriction checks, "
        f"{HTTP_ONE_MEASURE:.0%} for one measure, half of them of listed subjects\n"
    )
    # report_latency's table, with room for the longer route.
    header = f"{'endpoint':<28}{HEADER[18:]}"
    print(header)
    print("-" * len(header))
    for item in measured:
        print(f"{item.endpoint:<28}{item.row()[max(len(item.endpoint), 18) :]}")
    for item in measured:
        if item.phase.first_error:
            print(f"first error of {item.endpoint}: {item.phase.first_error}")
    health, checked = measured
    share = checked.rate / health.rate
    lines.append(
        f"HTTP checks / health: {checked.rate:,.0f} / {health.rate:,.0f} req/s = {share:.0%} "
        f"(target >= {TARGET_SHARE:.0%}: {verdict(share >= TARGET_SHARE)})"
    )
    print("\n" + "\n".join(lines), flush=True)
    return [f"{backend:<11}{line}" for line in lines]


LEGEND = """
resolve subject             a session; the identifier's blind index; the subject (on SQLite
                            this includes BEGIN IMMEDIATE: every transaction takes the
                            write lock first)
decision                    check_restriction / check_eligibility
query record + commit       record_check (one insert) and the commit
whole check                 all of it, with closing the session
server, db, client          CPU time of the server process (with SQLite the database works
                            inside it), of all postgres processes, of this load generator,
                            each as a share of one core over the measured phase"""


def main() -> None:
    # pgserver's platformdirs complains about XDG_RUNTIME_DIR on headless machines.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subjects", type=int, default=100_000)
    parser.add_argument("--entries", type=int, default=10_000, help="active court entries")
    parser.add_argument("--checks", type=int, default=100_000, help="in-process checks")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 2,000 subjects, 200 entries, 2,000 checks, 2 s phases",
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
    parser.add_argument("--no-http", action="store_true", help="in process only")
    args = parser.parse_args()
    if args.quick:
        args.subjects, args.entries, args.checks = 2_000, 200, 2_000
        args.duration, args.warmup = 2.0, 1.0
    backends = args.backend or ["sqlite"]
    settings = Settings()
    # The server's embedded events worker would otherwise, on its first round a few seconds
    # in, run the lists' daily job (ending the entries past their term) and fan out the
    # load's outbox events, in the middle of the measured phases. (Deployments may run it as
    # `xinyong events run` in a process of its own instead: docs/events.md.)
    os.environ["XINYONG_EVENTS_WORKER"] = "off"
    began = time.perf_counter()

    persons, enterprises = split_subjects(args.subjects)
    root, manifest, generated = population(persons, enterprises, args.seed)
    rows = sum(spec.rows for spec in manifest.files)
    print(
        f"population: {persons:,} persons, {enterprises:,} enterprises, seed {args.seed}; "
        f"{len(manifest.files)} batch files, {rows:,} rows "
        + (f"(generated in {generated:.0f} s)" if generated else "(cached)")
        + f"; lists: {args.entries:,} active court entries"
    )
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{sys.version.split()[0]}; in process: {args.checks:,} checks after "
        f"{min(args.checks // 10, 1000):,} unmeasured; over HTTP: xinyong serve (uvicorn, "
        f"1 worker process, log level {args.log_level}, events worker off), {args.clients} "
        "clients, keep-alive, "
        f"{args.warmup:g} s warm-up + {args.duration:g} s measured per endpoint",
        flush=True,
    )
    summary: list[str] = []
    timings = {"generation": generated, "loading": 0.0, "in process": 0.0, "http": 0.0}
    with tempfile.TemporaryDirectory(prefix="xinyong-bench-") as tmp:
        workdir = Path(tmp)
        with postgres_server(workdir) if "postgresql" in backends else _none() as admin:
            for backend in backends:
                print(f"\n== {backend} ==", flush=True)
                database = (
                    sqlite_database(root, manifest, settings, args.entries, args.seed, args.reload)
                    if backend == "sqlite"
                    else postgresql_lists(
                        root, manifest, settings, workdir, str(admin), args.entries, args.seed
                    )
                )
                summary += run_backend(backend, database, args, workdir, timings)
    total = time.perf_counter() - began
    print("\nsummary")
    print("\n".join(summary))
    print(
        f"\ntime: generation {timings['generation']:.0f} s, loading {timings['loading']:.0f} s, "
        f"in process {timings['in process']:.0f} s, HTTP {timings['http']:.0f} s, "
        f"total {total:.0f} s"
    )
    print(LEGEND + f"; the machine has {os.cpu_count()} cores")


@contextmanager
def _none() -> Iterator[None]:
    yield None


if __name__ == "__main__":
    main()

"""`xinyong demo`: a platform with a synthetic population, loaded the real way."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.orm import Session

from xinyong.accounts.service import enrol_subject
from xinyong.cli.context import Platform, platform
from xinyong.cli.ingest import progress_bar, run_ingest
from xinyong.db import transaction, utcnow
from xinyong.identity.identifiers import make_uscc
from xinyong.identity.service import count_subjects_by_kind, get_subject, view_subject
from xinyong.ingestion.readers import FileFormat
from xinyong.institutions import service
from xinyong.institutions.models import Institution
from xinyong.institutions.schemas import (
    LOCAL_OPERATOR,
    InstitutionCreate,
    InstitutionKind,
    IssuedApiKey,
    Principal,
    Role,
)
from xinyong.ledger import service as ledger
from xinyong.records.service import count_records_by_type, count_versions
from xinyong.reports.consent import record_consent
from xinyong.reports.models import Consent
from xinyong.reports.profiles import EvidenceKind, get_profile
from xinyong.reports.schemas import ConsentCreate, ConsentScope, SubjectSelector
from xinyong.scoring.training import train_champions
from xinyong.synth.service import SynthManifest, generate_population, read_manifest

DEMO_LENDER = InstitutionCreate(
    code="demo-lender",
    name="信用示范消费金融有限公司",
    name_en="Xinyong Demo Consumer Finance Co., Ltd.",
    kind=InstitutionKind.CONSUMER_FINANCE,
    uscc=make_uscc("9", "1", "310115", "MA1DEM00"),
    is_querier=True,
    permitted_purposes=[
        "loan_approval",
        "credit_card_approval",
        "post_loan_management",
        "guarantee_review",
    ],
)
# The demo subject whose consent and portal account the demo sets up.
DEMO_SUBJECT_ID = 1
DEMO_CONSENT_DAYS = 90


def _population(p: Platform, persons: int, enterprises: int, seed: int) -> SynthManifest:
    out = p.settings.data_dir / "demo-population" / f"p{persons}-e{enterprises}-s{seed}"
    if (out / "manifest.json").exists():
        return read_manifest(out)
    return generate_population(persons, enterprises, seed, out)


def _ensure_institution(p: Platform, data: InstitutionCreate) -> Institution:
    with transaction(p.factory) as session:
        try:
            return service.get_institution_by_code(session, data.code)
        except service.InstitutionNotFoundError:
            return service.create_institution(session, p.keys, data)


def _demo_consent(session: Session, p: Platform, querier_key: IssuedApiKey) -> Consent:
    """Consent of the demo subject to the demo lender, evidenced by a signed statement."""
    lender = service.get_institution_by_code(session, DEMO_LENDER.code)
    principal = Principal(
        api_key_id=querier_key.id,
        role=Role.QUERIER,
        institution_id=lender.id,
        institution_code=lender.code,
        label=querier_key.label,
    )
    now = utcnow()
    return record_consent(
        session,
        p.keys,
        principal,
        get_profile(p.settings.profile),
        get_subject(session, DEMO_SUBJECT_ID),
        ConsentCreate(
            subject=SubjectSelector(subject_id=DEMO_SUBJECT_ID),
            purposes=["loan_approval"],
            scope=ConsentScope.BOTH,
            granted_at=now,
            expires_at=now + timedelta(days=DEMO_CONSENT_DAYS),
            evidence_kind=EvidenceKind.SIGNED_STATEMENT,
            evidence_text="本人同意信用示范消费金融有限公司为贷款审批查询本人信用报告。（演示）",
        ),
    )


def demo(
    persons: Annotated[int, typer.Option(help="Synthetic persons.", min=1)] = 10_000,
    enterprises: Annotated[int, typer.Option(help="Synthetic enterprises.", min=1)] = 1_000,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic population.")] = 2026,
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the API after loading.")
    ] = True,
) -> None:
    """Load a synthetic population through the real ingestion path, then serve the API."""
    from xinyong.cli.main import console

    p = platform()
    console.print(
        f"[bold]Xinyong demo[/bold] — database {p.engine.url.render_as_string(hide_password=True)}"
    )
    with console.status("generating the synthetic population…"):
        manifest = _population(p, persons, enterprises, seed)
    root = p.settings.data_dir / "demo-population" / f"p{persons}-e{enterprises}-s{seed}"

    for furnisher in manifest.furnishers:
        _ensure_institution(
            p,
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
    _ensure_institution(p, DEMO_LENDER)

    rejected = 0
    files = sorted(manifest.files, key=lambda f: (f.kind != "initial", f.path))
    with progress_bar() as bar:
        for spec in files:
            result = run_ingest(
                p,
                root / spec.path,
                spec.furnisher_code,
                file_format=FileFormat(spec.format),
                record_type=None,
                idempotency_key=f"demo:{manifest.seed}:{spec.path}",
                source="demo",
                progress=bar,
                label=f"{spec.furnisher_code} {Path(spec.path).name}",
            )
            rejected += result.rows.rejected

    with console.status("training scorecards on the synthetic outcome labels…"):
        champions = train_champions(
            p.factory,
            p.keys,
            get_profile(p.settings.profile),
            root / manifest.labels_path,
            principal=LOCAL_OPERATOR,
            reason="demo: trained on the synthetic population's outcome labels",
        )

    with transaction(p.factory) as session:
        keys: list[IssuedApiKey] = [
            service.issue_api_key(session, Role.OPERATOR, None, "demo operator"),
            service.issue_api_key(session, Role.AUDITOR, None, "demo auditor"),
            service.issue_api_key(
                session,
                Role.FURNISHER,
                service.get_institution_by_code(session, manifest.furnishers[0].code),
                "demo furnisher",
            ),
            service.issue_api_key(
                session,
                Role.QUERIER,
                service.get_institution_by_code(session, DEMO_LENDER.code),
                "demo querier",
            ),
        ]
        consent = _demo_consent(session, p, keys[3])
        enrolment = enrol_subject(
            session, LOCAL_OPERATOR, DEMO_SUBJECT_ID, reason="demo: synthetic subject"
        )
        demo_identifier = view_subject(
            p.keys, get_subject(session, DEMO_SUBJECT_ID), reveal=True
        ).identifier
        subjects = count_subjects_by_kind(session)
        records = count_records_by_type(session)
        versions = count_versions(session)

    table = Table("record type", "records", title="Loaded")
    for record_type, count in records.items():
        table.add_row(record_type, f"{count:,}")
    console.print(table)
    console.print(
        "subjects: "
        + ", ".join(f"{kind} {count:,}" for kind, count in sorted(subjects.items()))
        + f"; record versions: {versions:,}; rejected rows: {rejected}"
    )
    console.print("\n[bold]Demo API keys[/bold] (shown once; new ones each run):")
    for issued in keys:
        who = f" for {manifest.furnishers[0].code}" if issued.role is Role.FURNISHER else ""
        who = f" for {DEMO_LENDER.code}" if issued.role is Role.QUERIER else who
        console.print(
            f"  {issued.role.value:<10}{who:<24} {issued.api_key}", highlight=False, soft_wrap=True
        )
    url = f"http://{p.settings.host}:{p.settings.port}"
    console.print(f"\nAPI: {url}   docs: {url}/docs   health: {url}/health", soft_wrap=True)
    console.print(
        f'try: curl -H "Authorization: Bearer {keys[0].api_key}" {url}/v1/institutions',
        soft_wrap=True,
    )
    console.print(
        f"\n[bold]Credit reports[/bold] ({p.settings.profile} profile). {DEMO_LENDER.code} holds "
        f"consent {consent.id} of subject {DEMO_SUBJECT_ID} for loan_approval:",
        soft_wrap=True,
    )
    console.print(
        f'  curl -X POST -H "Authorization: Bearer {keys[3].api_key}" '
        "-H 'Content-Type: application/json' "
        f'-d \'{{"subject": {{"subject_id": {DEMO_SUBJECT_ID}}}, '
        f'"purpose": "loan_approval", "format": "html", "lang": "en"}}\' '
        f"{url}/v1/reports",
        highlight=False,
        soft_wrap=True,
    )
    console.print(
        f"  xinyong report {DEMO_SUBJECT_ID} --purpose subject_request --format pdf "
        "--out report.pdf",
        highlight=False,
        soft_wrap=True,
    )
    console.print(
        f"Subject portal: subject {DEMO_SUBJECT_ID} (synthetic identifier {demo_identifier}) "
        f"can enrol with the one-time code {enrolment.enrolment_code} at "
        f"POST {url}/v1/portal/enrolment (see docs/subject-accounts.md).",
        highlight=False,
        soft_wrap=True,
    )
    console.print("\n[bold]Scores[/bold] (champion models; see docs/scoring.md):")
    for outcome in champions:
        auc = "" if outcome.auc is None else f", validation AUC {outcome.auc:.3f}"
        which = f"model {outcome.model_id} ({outcome.name} v{outcome.version})"
        console.print(
            f"  {outcome.segment}: {which if outcome.model_id else 'none'} — {outcome.note}{auc}",
            highlight=False,
            soft_wrap=True,
        )
    console.print(
        f"  xinyong score {DEMO_SUBJECT_ID} --purpose subject_request;  "
        "xinyong score --all --out scores.parquet",
        highlight=False,
        soft_wrap=True,
    )
    # The record ledger: everything loaded above is in the Merkle log; sign its head now.
    with transaction(p.factory) as session:
        checkpoint = ledger.make_checkpoint(session)
        vkey = ledger.session_keys(session).verifier.vkey
    console.print(
        f"\n[bold]Record ledger[/bold] (see docs/ledger.md): {checkpoint.size} leaves, "
        f"checkpoint signed by {vkey}",
        highlight=False,
        soft_wrap=True,
    )
    console.print(
        f"  xinyong ledger verify;  curl {url}/v1/ledger/checkpoint;  "
        f"curl '{url}/v1/ledger/proofs/inclusion?index=0'",
        highlight=False,
        soft_wrap=True,
    )
    if serve:
        from xinyong.cli.serving import run_server

        run_server(p, p.settings.host, p.settings.port)

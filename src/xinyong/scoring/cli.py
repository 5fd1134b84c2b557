"""`xinyong model`: the model registry from the command line, as the local operator.

Every command is one transaction; refusals (a transition the lifecycle does not allow, an
unknown model) are domain errors, which the entry point prints as one line with exit 1.
Bad usage (an unreadable file, an unknown segment, no reason) exits 2.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.markup import escape
from rich.table import Table

from xinyong.cli.context import platform
from xinyong.db import transaction
from xinyong.institutions.schemas import LOCAL_OPERATOR
from xinyong.scoring import registry
from xinyong.scoring.artifacts import read_artifact
from xinyong.scoring.models import ScoringModel
from xinyong.scoring.schemas import ModelSegment, ModelStatus, ScoringModelDetail

model_app = typer.Typer(
    help="The model registry: register, approve, promote and retire scoring models.",
    no_args_is_help=True,
)

E = TypeVar("E", bound=StrEnum)

ModelId = Annotated[int, typer.Argument(help="The model's id (see `xinyong model list`).")]
Reason = Annotated[
    str, typer.Option(help="Why (required); kept in the model's history and the audit trail.")
]


def _choice(enum: type[E], value: str | None, option: str) -> E | None:
    """``value`` as a member of ``enum``; a one-line usage error otherwise."""
    if value is None:
        return None
    try:
        return enum(value)
    except ValueError:
        from xinyong.cli.main import fail

        known = " or ".join(member.value for member in enum)
        raise fail(f"{option} must be {known}, not {value!r}", 2) from None


def _reason(reason: str) -> str:
    if not reason.strip():
        from xinyong.cli.main import fail

        raise fail("--reason must say why", 2)
    return reason.strip()


def _read_json(path: Path, what: str) -> dict[str, Any]:
    from xinyong.cli.main import fail

    if not path.is_file():
        raise fail(f"{path} is not a readable file", 2)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise fail(f"cannot read {what} {path}: {exc}", 2) from None
    if not isinstance(document, dict):
        raise fail(f"{path} does not hold a {what} (a JSON object)", 2)
    return document


def _label(model: ScoringModel) -> str:
    return f"model {model.id} ({model.name} v{model.version})"


def _validation_summary(validation: dict[str, Any] | None) -> str:
    if validation is None:
        return "-"
    figures = [
        f"{label} {validation[key]:.3f}"
        for key, label in (("auc", "AUC"), ("gini", "Gini"), ("ks", "KS"), ("psi", "PSI"))
        if isinstance(validation.get(key), int | float)
    ]
    rows = validation.get("n")
    if isinstance(rows, int):
        figures.append(f"{rows} rows")
    generated = validation.get("generated_at")
    if isinstance(generated, str):
        figures.append(f"made {generated}")
    return ", ".join(figures) or "attached"


@model_app.command("register")
def register(
    artifact: Annotated[
        Path, typer.Argument(help="The model artifact (JSON), as `model.save()` writes it.")
    ],
    name: Annotated[str, typer.Option(help="The model's name, e.g. person-scorecard.")],
    segment: Annotated[str, typer.Option(help="person or enterprise.")],
    validation: Annotated[
        Path | None, typer.Option(help="A validation report (JSON); registers it as validated.")
    ] = None,
    feature_set: Annotated[
        str | None, typer.Option(help="Name/version of the feature definitions it was trained on.")
    ] = None,
) -> None:
    """Register a fitted model's artifact as the next version of NAME (a draft)."""
    from xinyong.cli.main import console, fail

    chosen = _choice(ModelSegment, segment, "--segment")
    assert chosen is not None
    if not artifact.is_file():
        raise fail(f"{artifact} is not a readable file", 2)
    document = read_artifact(artifact)
    report = _read_json(validation, "validation report") if validation is not None else None
    p = platform()
    with transaction(p.factory) as session:
        model = registry.register_model(
            session,
            name=name,
            segment=chosen,
            artifact=document,
            created_by=LOCAL_OPERATOR.label,
            feature_set=feature_set,
            validation=report,
            principal=LOCAL_OPERATOR,
        )
    console.print(
        f"registered {_label(model)}: {model.kind}, {model.segment}, {model.status}",
        highlight=False,
    )
    console.print(f"artifact {model.artifact_digest}", highlight=False)


@model_app.command("list")
def list_models(
    segment: Annotated[str | None, typer.Option(help="person or enterprise.")] = None,
    status: Annotated[
        str | None, typer.Option(help="draft, validated, approved, champion or retired.")
    ] = None,
) -> None:
    """List registered models, newest first."""
    from xinyong.cli.main import console

    chosen_segment = _choice(ModelSegment, segment, "--segment")
    chosen_status = _choice(ModelStatus, status, "--status")
    p = platform()
    table = Table("id", "name", "version", "kind", "segment", "status", "feature set", "created")
    with transaction(p.factory) as session:
        for model in registry.list_models(session, segment=chosen_segment, status=chosen_status):
            table.add_row(
                str(model.id),
                model.name,
                str(model.version),
                model.kind,
                model.segment,
                model.status,
                escape(model.feature_set or "-"),
                f"{model.created_at:%Y-%m-%d %H:%M} by {escape(model.created_by)}",
            )
    console.print(table)


def _print_detail(detail: ScoringModelDetail) -> None:
    from xinyong.cli.main import console

    lines = [
        f"model {detail.id}: {detail.name} v{detail.version}",
        f"status:          {detail.status.value}",
        f"kind, segment:   {detail.kind.value}, {detail.segment.value}",
        f"artifact:        {detail.artifact_digest}",
        f"training data:   {detail.training_digest}",
        f"feature set:     {detail.feature_set or '-'}",
        f"validation:      {_validation_summary(detail.validation)}",
        f"created:         {detail.created_at:%Y-%m-%d %H:%M:%S} UTC by {detail.created_by}",
    ]
    for line in lines:
        console.print(escape(line), highlight=False)
    table = Table("when (UTC)", "from", "to", "by", "reason", title="history")
    for event in detail.events:
        table.add_row(
            f"{event.occurred_at:%Y-%m-%d %H:%M:%S}",
            event.from_status.value if event.from_status else "-",
            event.to_status.value,
            escape(f"{event.actor} ({event.role})"),
            escape(event.reason or ""),
        )
    console.print(table)


@model_app.command("show")
def show(model_id: ModelId) -> None:
    """Show a model and its history."""
    p = platform()
    with transaction(p.factory) as session:
        detail = registry.view_model_detail(session, registry.get_model(session, model_id))
    _print_detail(detail)


@model_app.command("approve")
def approve(model_id: ModelId, reason: Reason = "") -> None:
    """Approve a validated model for use (validated → approved)."""
    from xinyong.cli.main import console

    why = _reason(reason)
    p = platform()
    with transaction(p.factory) as session:
        model = registry.approve(session, model_id, LOCAL_OPERATOR, why)
    console.print(f"{_label(model)}: validated → approved", highlight=False)


@model_app.command("promote")
def promote(model_id: ModelId, reason: Reason = "") -> None:
    """Make an approved model its segment's champion; the previous champion is retired."""
    from xinyong.cli.main import console

    why = _reason(reason)
    p = platform()
    with transaction(p.factory) as session:
        model = registry.get_model(session, model_id)
        previous = registry.champion(session, model.segment)
        model = registry.promote(session, model_id, LOCAL_OPERATOR, why)
        replaced = _label(previous) if previous is not None and previous.id != model.id else None
    console.print(f"{_label(model)}: approved → champion of {model.segment}", highlight=False)
    if replaced is not None:
        console.print(f"{replaced}: champion → retired", highlight=False)


@model_app.command("retire")
def retire(model_id: ModelId, reason: Reason = "") -> None:
    """Retire a model (from any status but retired); retired is final."""
    from xinyong.cli.main import console

    why = _reason(reason)
    p = platform()
    with transaction(p.factory) as session:
        before = registry.get_model(session, model_id).status
        model = registry.retire(session, model_id, LOCAL_OPERATOR, why)
    console.print(f"{_label(model)}: {before} → retired", highlight=False)


# --- training -----------------------------------------------------------------------------------


class TrainSegment(StrEnum):
    PERSON = "person"
    ENTERPRISE = "enterprise"


class TrainKind(StrEnum):
    SCORECARD = "scorecard"
    LIGHTGBM = "lightgbm"


class ReportLang(StrEnum):
    ZH_CN = "zh-CN"
    EN = "en"


def _day(value: str | None, option: str) -> Any:
    from datetime import date

    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        from xinyong.cli.main import fail

        raise fail(f"{option} must be a date YYYY-MM-DD, not {value!r}", 2) from None


@model_app.command("train")
def train(
    out: Annotated[Path, typer.Option(help="Directory for model.json and the validation report.")],
    data: Annotated[
        Path | None, typer.Option(help="Train on this CSV file (one row per applicant).")
    ] = None,
    target: Annotated[str | None, typer.Option(help="The CSV's outcome column.")] = None,
    bad_value: Annotated[
        str | None, typer.Option("--bad-value", help="The outcome value that means bad.")
    ] = None,
    protected: Annotated[
        list[str] | None,
        typer.Option(help="CSV column kept out of the model, used only for adverse impact."),
    ] = None,
    labels: Annotated[
        Path | None,
        typer.Option(help="Train on the platform's features: a labels.csv (see `xinyong synth`)."),
    ] = None,
    segment: Annotated[
        TrainSegment, typer.Option(help="Whom the model scores.")
    ] = TrainSegment.PERSON,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Platform features as of (default today).")
    ] = None,
    kind: Annotated[TrainKind, typer.Option("--model", help="scorecard or lightgbm.")] = (
        TrainKind.SCORECARD
    ),
    base_score: Annotated[float, typer.Option(help="Score at the base odds.")] = 600.0,
    base_odds: Annotated[float, typer.Option(help="Good:bad odds at the base score.")] = 50.0,
    pdo: Annotated[float, typer.Option(help="Points to double the odds.")] = 20.0,
    validation_share: Annotated[
        float, typer.Option(help="Share of rows held out for validation.")
    ] = 0.3,
    seed: Annotated[int, typer.Option(help="Seed of the training/validation split.")] = 2026,
    register: Annotated[
        str | None,
        typer.Option(help="Register the model under this name (status validated)."),
    ] = None,
    lang: Annotated[ReportLang, typer.Option(help="Language of the HTML report.")] = (
        ReportLang.ZH_CN
    ),
) -> None:
    """Train a scorecard or LightGBM model, validate it out of sample and write the reports."""
    from xinyong.cli.main import console, fail
    from xinyong.reports.profiles import get_profile
    from xinyong.scoring.features import FEATURE_SET
    from xinyong.scoring.training import (
        platform_training_data,
        read_csv_training_data,
        train_and_validate,
    )

    if (data is None) == (labels is None):
        raise fail("give either --data FILE (a CSV) or --labels FILE (platform features)", 2)
    if data is not None and (target is None or bad_value is None):
        raise fail("--data needs --target COLUMN and --bad-value VALUE", 2)
    if out.exists() and not out.is_dir():
        raise fail(f"{out} exists and is not a directory", 2)
    params: dict[str, Any] = {"base_score": base_score, "base_odds": base_odds, "pdo": pdo}
    p = platform() if labels is not None or register is not None else None
    if data is not None:
        assert target is not None
        assert bad_value is not None
        if not data.is_file():
            raise fail(f"{data} is not a readable file", 2)
        training = read_csv_training_data(data, target, bad_value, protected=protected or ())
        feature_set = None
    else:
        assert labels is not None
        assert p is not None
        profile = get_profile(p.settings.profile)
        day = _day(as_of, "--as-of") or profile.today()
        with p.factory() as session:
            training = platform_training_data(session, p.keys, profile, labels, segment.value, day)
        feature_set = FEATURE_SET
    with console.status(f"training a {kind.value} on {training.description}…"):
        trained = train_and_validate(
            training, kind.value, validation_share=validation_share, seed=seed, **params
        )
    out.mkdir(parents=True, exist_ok=True)
    trained.model.save(out / "model.json")
    report = trained.validation
    (out / "validation.json").write_text(report.to_json(), encoding="utf-8")
    (out / "validation.html").write_text(report.to_html(lang=lang.value), encoding="utf-8")
    psi = "n/a" if report.psi is None else f"{report.psi:.4f}"
    console.print(
        f"{kind.value}: trained on {trained.train_rows:,} rows, validated on "
        f"{trained.validation_rows:,}: AUC {report.auc:.4f}, Gini {report.gini:.4f}, "
        f"KS {report.ks:.4f}, PSI {psi}; {len(trained.model.features_)} characteristics",
        highlight=False,
    )
    console.print(
        f"wrote {out / 'model.json'}, {out / 'validation.json'}, {out / 'validation.html'}"
    )
    if register is not None:
        assert p is not None
        artifact = json.loads((out / "model.json").read_text(encoding="utf-8"))
        with transaction(p.factory) as session:
            model = registry.register_model(
                session,
                name=register,
                segment=segment.value,
                artifact=artifact,
                created_by=LOCAL_OPERATOR.label,
                feature_set=feature_set,
                validation=report.to_dict(),
            )
            label, status = _label(model), model.status
        console.print(f"registered {label}: {status}")


# --- scoring ------------------------------------------------------------------------------------


def score(
    subject: Annotated[
        str | None,
        typer.Argument(help="Subject id or identifier; '-' to be prompted. Leave out with --all."),
    ] = None,
    all_subjects: Annotated[
        bool, typer.Option("--all", help="Score every subject into --out (Parquet).")
    ] = False,
    purpose: Annotated[
        str | None, typer.Option(help="Purpose of a single subject's score query.")
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Score as of this date (default today).")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="The Parquet file of --all.")] = None,
    record: Annotated[
        bool, typer.Option(help="With --all: add every score to the subjects' histories.")
    ] = False,
    keep_snapshot: Annotated[
        Path | None,
        typer.Option(help="With --all: keep the record snapshot in this new directory."),
    ] = None,
) -> None:
    """Score one subject (a recorded query) or, with --all, the whole population."""
    from xinyong.cli.ingest import progress_bar
    from xinyong.cli.main import console, fail
    from xinyong.reports.profiles import get_profile
    from xinyong.reports.schemas import Channel
    from xinyong.reports.service import QueryRequest, resolve_selector
    from xinyong.scoring import service

    day = _day(as_of, "--as-of")
    p = platform()
    profile = get_profile(p.settings.profile)
    if all_subjects:
        if subject is not None:
            raise fail("give a subject or --all, not both", 2)
        if out is None:
            raise fail("--all needs --out FILE.parquet", 2)
        with progress_bar() as bar:
            task = bar.add_task("scoring", total=None)
            summary = service.score_all(
                p.factory,
                p.keys,
                profile,
                day or profile.today(),
                out,
                record=record,
                snapshot_dir=keep_snapshot,
                progress=lambda rows: bar.advance(task, rows),
                total=lambda rows: bar.update(task, total=rows),
            )
        for segment in summary.scored:
            console.print(
                f"{segment}: {summary.scored[segment]:,} scored, "
                f"{summary.unscorable[segment]:,} unscorable"
            )
        for segment in summary.skipped_segments:
            console.print(f"{segment}: no champion model, not scored")
        recorded = f"; {summary.recorded:,} added to score histories" if record else ""
        console.print(f"wrote {summary.subjects:,} rows to {out}{recorded}")
        return
    if subject is None:
        raise fail("give a subject (id or identifier) or --all", 2)
    if purpose is None:
        raise fail("a single subject's score needs --purpose (subject_request, court_order …)", 2)
    if subject == "-":
        subject = typer.prompt("identifier", hide_input=True)
    from xinyong.cli.reports import subject_selector

    with transaction(p.factory) as session:
        found = resolve_selector(session, p.keys, subject_selector(subject))
        served = service.request_score(
            session,
            p.factory,
            p.keys,
            LOCAL_OPERATOR,
            profile,
            found,
            QueryRequest(purpose=purpose, as_of=day),
            channel=Channel.CLI,
        )
    view = served.score
    console.print(view.model_dump_json(indent=2), highlight=False, soft_wrap=True)

"""Tests of the synthetic population generator: validity, consistency, signal, determinism."""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from xinyong.catalog.schemas import GRID_CODES, GRID_LENGTH, FieldType
from xinyong.catalog.service import get_catalog, validator_for
from xinyong.identity.identifiers import (
    IdentifierType,
    birth_date_of,
    subject_kind_for,
    validate_resident_id,
    validate_uscc,
)
from xinyong.synth.cli import synth
from xinyong.synth.service import (
    ENVELOPE_KEYS,
    LABEL_COLUMNS,
    FileFormat,
    SynthError,
    SynthManifest,
    generate_population,
    read_manifest,
)

AS_OF = date(2026, 10, 31)
ENVELOPE = frozenset(ENVELOPE_KEYS)


def read_rows(out: Path, path: str) -> Iterator[dict[str, Any]]:
    """Rows of one batch file, CSV values as strings (``""`` = absent) like ingestion sees."""
    file = out / path
    if file.suffix == ".csv":
        with file.open(encoding="utf-8", newline="") as handle:
            yield from csv.DictReader(handle)
    else:
        with file.open(encoding="utf-8") as handle:
            for line in handle:
                yield json.loads(line)


def present(row: dict[str, Any], key: str) -> bool:
    return row.get(key) not in (None, "")


@pytest.fixture(scope="module")
def jsonl_population(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SynthManifest]:
    out = tmp_path_factory.mktemp("synth-jsonl")
    return out, generate_population(1000, 100, 7, out)


@pytest.fixture(scope="module")
def csv_population(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SynthManifest]:
    out = tmp_path_factory.mktemp("synth-csv")
    return out, generate_population(300, 60, 11, out, file_format="csv")


@pytest.fixture(params=["jsonl", "csv"])
def population(
    request: pytest.FixtureRequest,
    jsonl_population: tuple[Path, SynthManifest],
    csv_population: tuple[Path, SynthManifest],
) -> tuple[Path, SynthManifest]:
    return jsonl_population if request.param == "jsonl" else csv_population


def all_rows(out: Path, manifest: SynthManifest) -> Iterator[tuple[str, dict[str, Any]]]:
    for spec in manifest.files:
        for row in read_rows(out, spec.path):
            yield spec.kind, row


# --- validity -------------------------------------------------------------------------------


def test_every_row_is_valid_under_the_catalog(population: tuple[Path, SynthManifest]) -> None:
    out, manifest = population
    catalog = get_catalog()
    assert manifest.catalog_version == catalog.version
    seen = Counter[str]()
    for spec in manifest.files:
        record_type = catalog.record_type(spec.record_type)
        validator = validator_for(record_type)
        for row in read_rows(out, spec.path):
            assert row["record_type"] == spec.record_type
            fields = {k: v for k, v in row.items() if k not in ENVELOPE}
            _, errors = validator.validate(fields)
            assert errors == [], (spec.path, row["record_key"], errors)
            kind = subject_kind_for(
                IdentifierType(row["subject_id_type"]), row["subject_identifier"]
            )
            assert kind.value in record_type.subject_kinds, (spec.record_type, kind)
            seen[spec.record_type] += 1
    # Every catalogued record type occurs in a population of this size.
    assert set(seen) == set(catalog.record_types)


def test_envelopes_and_dates(population: tuple[Path, SynthManifest]) -> None:
    out, manifest = population
    catalog = get_catalog()
    for kind, row in all_rows(out, manifest):
        assert 0 < len(row["record_key"]) <= 128
        assert row["action"] in ("upsert", "delete")
        if row["action"] == "delete":
            assert row["reason"]
        assert not present(row, "valid_to")
        assert row["subject_name"]
        assert row["subject_name_en"]
        assert row["subject_name_en"].isascii()
        assert date.fromisoformat(row["valid_from"]) <= AS_OF
        if kind == "initial":
            assert row["action"] == "upsert"
            assert not present(row, "reason")
        # No date in any record lies after the observation date.
        for spec in catalog.record_type(row["record_type"]).fields:
            if not present(row, spec.name):
                continue
            if spec.type is FieldType.DATE:
                assert date.fromisoformat(row[spec.name]) <= AS_OF, (spec.name, row)
            elif spec.type is FieldType.MONTH:
                assert row[spec.name] <= AS_OF.strftime("%Y-%m"), (spec.name, row)


def test_csv_header_is_envelope_then_catalog_fields(
    csv_population: tuple[Path, SynthManifest],
) -> None:
    out, manifest = csv_population
    catalog = get_catalog()
    for spec in manifest.files:
        assert spec.format == "csv"
        assert spec.path.endswith(".csv")
        with (out / spec.path).open(encoding="utf-8", newline="") as handle:
            header = next(csv.reader(handle))
        expected = [*ENVELOPE_KEYS, *catalog.record_type(spec.record_type).field_names]
        assert header == expected


def test_identifiers_are_valid_unique_and_plausible(
    population: tuple[Path, SynthManifest],
) -> None:
    out, manifest = population
    names: dict[str, str] = {}
    for _, row in all_rows(out, manifest):
        identifier = row["subject_identifier"]
        if row["subject_id_type"] == "resident_id":
            assert validate_resident_id(identifier, today=AS_OF) == identifier
            born = birth_date_of(identifier)
            age = AS_OF.year - born.year - ((AS_OF.month, AS_OF.day) < (born.month, born.day))
            assert 18 <= age <= 75
        else:
            assert row["subject_id_type"] == "uscc"
            assert validate_uscc(identifier) == identifier
        # One subject, one name, in every file.
        assert names.setdefault(identifier, row["subject_name"]) == row["subject_name"]
    usccs = [f.uscc for f in manifest.furnishers]
    assert all(validate_uscc(u) == u for u in usccs)
    assert len(set(usccs)) == len(usccs)
    assert not set(usccs) & set(names)


def test_labels_cover_every_subject_once(population: tuple[Path, SynthManifest]) -> None:
    out, manifest = population
    with (out / manifest.labels_path).open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ()) == LABEL_COLUMNS
        labels = list(reader)
    assert len(labels) == manifest.persons + manifest.enterprises
    keys = [(r["subject_id_type"], r["subject_identifier"]) for r in labels]
    assert len(set(keys)) == len(keys)
    assert Counter(k for k, _ in keys) == {
        "resident_id": manifest.persons,
        "uscc": manifest.enterprises,
    }
    assert {r["default_12m"] for r in labels} == {"0", "1"}
    assert {r["observation_date"] for r in labels} == {AS_OF.isoformat()}
    subjects = {
        (row["subject_id_type"], row["subject_identifier"]) for _, row in all_rows(out, manifest)
    }
    assert subjects <= set(keys)
    # A few per cent of organisations are not enterprises (registration authority 5 or 1).
    authorities = Counter(i[0] for t, i in keys if t == "uscc")
    assert authorities["9"] > 0.8 * manifest.enterprises
    assert authorities["5"] + authorities["1"] > 0


# --- consistency ----------------------------------------------------------------------------


def _month_index(month: str) -> int:
    year, number = month.split("-")
    return int(year) * 12 + int(number) - 1


def _last_numeric(grid: str) -> int:
    return int(grid[-1]) if grid[-1].isdigit() else 0


def test_credit_accounts_are_consistent_with_their_grids(
    population: tuple[Path, SynthManifest],
) -> None:
    out, manifest = population
    statuses = Counter[str]()
    for spec in manifest.files:
        if spec.record_type != "credit_account":
            continue
        for row in read_rows(out, spec.path):
            grid = row["repayment_grid"]
            assert len(grid) == GRID_LENGTH
            assert set(grid) <= GRID_CODES
            assert row["currency"] == "CNY"
            end = row["grid_end_month"]
            assert end == row["info_date"][:7]
            assert end in ("2026-10", "2026-09")
            status = row["status"]
            statuses[status] += 1
            overdue = float(row["overdue_amount"])
            months = int(row["overdue_months"]) if present(row, "overdue_months") else None
            if status in ("normal", "overdue", "bad_debt"):
                assert months == _last_numeric(grid)
                assert (overdue > 0) == (months > 0)
                assert not present(row, "close_date")
            else:
                assert present(row, "close_date")
                assert months is None
                assert overdue == 0
                assert float(row["balance"]) == 0
                closing = {"closed": "C", "paid_by_guarantor": "D"}.get(status)
                assert closing is None or closing in grid
            if status == "overdue":
                assert months is not None
                assert months > 0
            # '#' pads exactly the months of the grid before the account opened.
            assert grid.lstrip("#").count("#") == 0
            assert len(grid) - len(grid.lstrip("#")) == max(
                0, _month_index(row["open_date"][:7]) - (_month_index(end) - GRID_LENGTH + 1)
            )
    assert {"normal", "closed", "overdue"} <= set(statuses)


def test_corrections_update_and_delete_existing_accounts(
    jsonl_population: tuple[Path, SynthManifest],
) -> None:
    out, manifest = jsonl_population
    banks = [f for f in manifest.furnishers if f.kind == "bank"]
    assert 3 <= len(banks) <= 4
    actions = Counter[str]()
    for bank in banks:
        specs = {s.kind: s for s in manifest.files if s.furnisher_code == bank.code}
        assert specs["corrections"].path == f"{bank.code}/credit_account.corrections.jsonl"
        originals = {r["record_key"]: r for r in read_rows(out, specs["initial"].path)}
        corrections = list(read_rows(out, specs["corrections"].path))
        assert 0 < len(corrections) < 0.05 * len(originals)
        for row in corrections:
            original = originals[row["record_key"]]
            assert row["subject_identifier"] == original["subject_identifier"]
            actions[row["action"]] += 1
            if row["action"] == "delete":
                assert row["reason"] == "reported in error"
            else:
                # A later month: the grid moves on by one, the dates with it.
                assert row["reason"] == "monthly update"
                assert row["repayment_grid"][:-1] == original["repayment_grid"][1:]
                assert row["valid_from"] > original["valid_from"]
                assert row["grid_end_month"] == "2026-10" > original["grid_end_month"]
        stale = [k for k, r in originals.items() if r["grid_end_month"] != "2026-10"]
        updated = {r["record_key"] for r in corrections if r["action"] == "upsert"}
        assert set(stale) == updated
    assert actions["upsert"] > 0
    assert actions["delete"] > 0


def test_public_records_are_consistent(population: tuple[Path, SynthManifest]) -> None:
    out, manifest = population
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for _, row in all_rows(out, manifest):
        rows[row["record_type"]].append(row)
    enforcement = {r["case_number"] for r in rows["enforcement_case"]}
    for listing in rows["dishonest_debtor_listing"]:
        assert listing["case_number"] in enforcement
        assert "执" in listing["case_number"]
    for judgment in rows["court_judgment"]:
        assert judgment["case_number"].startswith(f"（{judgment['judgment_date'][:4]}）")
    for penalty in rows["administrative_penalty"]:
        if penalty["penalty_type"] in ("warning", "public_criticism"):
            assert not present(penalty, "fine_amount")
        if penalty["penalty_type"] == "fine":
            assert float(penalty["fine_amount"]) > 0
    for grade in rows["tax_credit_grade"]:
        if present(grade, "score"):
            score = int(grade["score"])
            expected = "A" if score >= 90 else "B" if score >= 70 else "C" if score >= 40 else "D"
            assert grade["grade"] == expected
        else:
            assert grade["grade"] == "M"
    for status in rows["social_insurance_status"]:
        assert status["insurance_type"] == "pension"
        assert (int(status["months_in_arrears"]) > 0) == (status["status"] == "in_arrears")


# --- signal ---------------------------------------------------------------------------------


def test_latent_risk_carries_signal(jsonl_population: tuple[Path, SynthManifest]) -> None:
    out, manifest = jsonl_population
    overdue_months: Counter[str] = Counter()
    for spec in manifest.files:
        if spec.record_type == "credit_account" and spec.kind == "initial":
            for row in read_rows(out, spec.path):
                grid = row["repayment_grid"]
                overdue_months[row["subject_identifier"]] += sum(c.isdigit() for c in grid)
    with (out / manifest.labels_path).open(encoding="utf-8", newline="") as handle:
        labels = {r["subject_identifier"]: int(r["default_12m"]) for r in csv.DictReader(handle)}
    by_label: dict[int, list[int]] = {0: [], 1: []}
    for identifier, label in labels.items():
        by_label[label].append(overdue_months[identifier])
    rate = len(by_label[1]) / len(labels)
    assert 0.04 < rate < 0.15  # about 8 % of persons and 10 % of organisations
    mean = {label: sum(v) / len(v) for label, v in by_label.items()}
    assert mean[1] > 2 * mean[0]


# --- determinism and the manifest ------------------------------------------------------------


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("file_format", ["jsonl", "csv"])
def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path, file_format: FileFormat) -> None:
    generate_population(120, 20, 5, tmp_path / "a", file_format=file_format)
    generate_population(120, 20, 5, tmp_path / "b", file_format=file_format)
    generate_population(120, 20, 6, tmp_path / "c", file_format=file_format)
    first, second, third = (_tree(tmp_path / n) for n in "abc")
    assert first == second
    assert first["labels.csv"] != third["labels.csv"]
    assert set(first) >= {"manifest.json", "labels.csv"}


def test_manifest_round_trips_and_describes_the_files(
    population: tuple[Path, SynthManifest],
) -> None:
    out, manifest = population
    assert read_manifest(out) == manifest
    assert SynthManifest.from_json(manifest.to_json()) == manifest
    assert (manifest.as_of, manifest.labels_path) == (AS_OF, "labels.csv")
    for spec in manifest.files:
        assert sum(1 for _ in read_rows(out, spec.path)) == spec.rows
        furnisher = next(f for f in manifest.furnishers if f.code == spec.furnisher_code)
        assert spec.record_type in furnisher.record_types
    listed = {s.path for s in manifest.files} | {"labels.csv", "manifest.json"}
    assert set(_tree(out)) == listed


def test_without_corrections_and_other_as_of(tmp_path: Path) -> None:
    as_of = date(2025, 3, 15)
    manifest = generate_population(80, 10, 3, tmp_path, as_of=as_of, corrections=False)
    assert {s.kind for s in manifest.files} == {"initial"}
    for spec in manifest.files:
        for row in read_rows(tmp_path, spec.path):
            assert row["valid_from"] <= as_of.isoformat()
            if spec.record_type == "credit_account":
                assert row["grid_end_month"] == "2025-03"
                assert row["info_date"] == "2025-03-15"


def test_bad_parameters_and_manifests(tmp_path: Path) -> None:
    with pytest.raises(SynthError):
        generate_population(-1, 0, 1, tmp_path)
    with pytest.raises(SynthError):
        generate_population(1, 0, 1, tmp_path, file_format="xml")  # type: ignore[arg-type]
    with pytest.raises(SynthError):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text('{"seed": 1}', encoding="utf-8")
    with pytest.raises(SynthError):
        read_manifest(tmp_path)
    empty = generate_population(0, 0, 1, tmp_path / "empty")
    assert all(spec.rows == 0 for spec in empty.files)


# --- command line ---------------------------------------------------------------------------


def test_cli(tmp_path: Path) -> None:
    app = typer.Typer()
    app.command("synth")(synth)
    runner = CliRunner()
    out = tmp_path / "pop"
    args = ["--out", str(out), "--persons", "40", "--enterprises", "5", "--seed", "9"]

    result = runner.invoke(app, [*args, "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert "credit_account" in result.stdout
    assert "40 persons" in result.stdout
    first = read_manifest(out)
    assert {s.format for s in first.files} == {"csv"}

    again = runner.invoke(app, args)
    assert again.exit_code == 2
    assert "--force" in again.stderr

    forced = runner.invoke(app, [*args, "--force", "--no-corrections"])
    assert forced.exit_code == 0, forced.output
    second = read_manifest(out)
    assert {s.kind for s in second.files} == {"initial"}
    # The CSV files of the first run are gone, not left beside the new ones.
    assert set(_tree(out)) == {s.path for s in second.files} | {"labels.csv", "manifest.json"}

    for bad in (["--persons", "-1"], ["--format", "xml"], ["--as-of", "2026-13-01"]):
        result = runner.invoke(app, ["--out", str(tmp_path / "other"), *bad])
        assert result.exit_code == 2, bad
        assert result.stderr.startswith("error: ")


@pytest.mark.slow
def test_large_populations_give_every_organisation_its_own_name(tmp_path: Path) -> None:
    # Some kinds of organisation have few possible names; beyond a few thousand
    # organisations the repeats are numbered instead of failing.
    manifest = generate_population(1, 6_000, 11, tmp_path, corrections=False)
    names: dict[str, str] = {}
    for spec in manifest.files:
        with (tmp_path / spec.path).open(encoding="utf-8") as handle:
            for line in handle:
                row = json.loads(line)
                if row["subject_id_type"] == "uscc" and row.get("subject_name"):
                    names.setdefault(row["subject_identifier"], row["subject_name"])
    assert len(names) > 5_000
    assert len(set(names.values())) == len(names)

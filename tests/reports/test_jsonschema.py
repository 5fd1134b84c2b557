"""The published JSON Schema of the credit report never drifts from the code."""

from __future__ import annotations

import json
from pathlib import Path

from sample_report import enterprise_report, person_report

from xinyong.reports.jsonschema import report_json_schema, report_json_schema_text
from xinyong.reports.schemas import REPORT_SCHEMA_ID, CreditReport

PUBLISHED = Path(__file__).parents[2] / "docs" / "schemas" / "credit-report-1.2.json"


def test_published_schema_is_the_generated_one() -> None:
    assert PUBLISHED.read_text(encoding="utf-8") == report_json_schema_text(), (
        "docs/schemas/credit-report-1.2.json is out of date; regenerate it with\n"
        "    .venv/bin/python -m xinyong.reports.jsonschema > docs/schemas/credit-report-1.2.json\n"
        "and check that the change is additive (see docs/reports.md, 'Formats')."
    )


def test_schema_names_its_id_and_dialect() -> None:
    schema = report_json_schema()
    assert schema["$id"] == REPORT_SCHEMA_ID
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert json.loads(report_json_schema_text()) == schema


def test_sample_reports_round_trip_through_json() -> None:
    for report in (person_report(), enterprise_report()):
        assert CreditReport.model_validate_json(report.model_dump_json()) == report

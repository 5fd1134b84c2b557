"""The published JSON Schema of the credit report (``docs/schemas/credit-report-1.2.json``).

The file is generated from :class:`~xinyong.reports.schemas.CreditReport`; a test keeps it
equal to :func:`report_json_schema_text`. Regenerate it with::

    .venv/bin/python -m xinyong.reports.jsonschema > docs/schemas/credit-report-1.2.json
"""

from __future__ import annotations

import json
import sys
from typing import Any, Final

from xinyong.reports.schemas import CreditReport

__all__ = ["JSON_SCHEMA_DIALECT", "report_json_schema", "report_json_schema_text"]

# Pydantic 2 writes JSON Schema 2020-12; saying so lets validators pick the right dialect.
JSON_SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"


def report_json_schema() -> dict[str, Any]:
    """The JSON Schema of the credit report, as served and as published in ``docs/schemas``."""
    return {"$schema": JSON_SCHEMA_DIALECT, **CreditReport.model_json_schema()}


def report_json_schema_text() -> str:
    """:func:`report_json_schema` as the published file: indented, UTF-8, final newline."""
    return json.dumps(report_json_schema(), indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    """Write the schema file to standard output (as UTF-8 whatever the locale)."""
    sys.stdout.buffer.write(report_json_schema_text().encode("utf-8"))
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    main()

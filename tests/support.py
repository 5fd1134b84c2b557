"""Helpers shared by tests: identifiers, valid rows, auth headers."""

from __future__ import annotations

import json
from collections.abc import Iterable
from itertools import count
from pathlib import Path
from typing import Any

from xinyong.identity.identifiers import make_resident_id, make_uscc

_USCC_SEQ = count(10_000_000)
_PERSON_SEQ = count(1)


def new_uscc() -> str:
    return make_uscc("9", "1", "110101", f"{next(_USCC_SEQ):08d}")


def new_resident_id() -> str:
    from datetime import date, timedelta

    n = next(_PERSON_SEQ)
    return make_resident_id("110101", date(1970, 1, 1) + timedelta(days=n // 900), n % 900)


def auth(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}


def account_row(identifier: str, key: str = "ACC-1", **overrides: Any) -> dict[str, Any]:
    """A valid credit_account row for a person."""
    row: dict[str, Any] = {
        "record_type": "credit_account",
        "record_key": key,
        "subject_id_type": "resident_id",
        "subject_identifier": identifier,
        "subject_name": "张三",
        "valid_from": "2026-10-31",
        "account_type": "loan",
        "loan_kind": "consumer",
        "currency": "CNY",
        "credit_limit": "50000.00",
        "balance": "12000.00",
        "overdue_amount": "0.00",
        "open_date": "2024-03-15",
        "guarantee_type": "unsecured",
        "status": "normal",
        "grid_end_month": "2026-10",
        "repayment_grid": "#" * 28 + "N" * 32,
        "info_date": "2026-10-31",
    }
    row.update(overrides)
    return row


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path

"""Events commit to a fixed list of columns: a new column is a decision, not an accident."""

from __future__ import annotations

from dataclasses import fields

from xinyong.ledger.service import EVENT_COLUMNS, KINDS
from xinyong.reports.service import FileVersion


def test_every_column_of_a_ledgered_table_is_committed_to() -> None:
    for kind, table in KINDS.items():
        columns = tuple(column.name for column in table.columns)
        assert columns == EVENT_COLUMNS[kind], (
            f"{table.name} has columns {columns}, and its ledger events commit to "
            f"{EVENT_COLUMNS[kind]}. Old rows' commitments cover only the old columns: cover "
            "a new column with a new event kind or version (docs/ledger.md), then update "
            "EVENT_COLUMNS deliberately."
        )


def test_a_report_reads_every_column_a_version_event_commits_to() -> None:
    """A report forms its items' events from the versions its file read (no second read)."""
    read = [field.name for field in fields(FileVersion)]
    assert list(EVENT_COLUMNS["record.version"]) == read

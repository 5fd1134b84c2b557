"""Events commit to a fixed list of columns: a new column is a decision, not an accident."""

from __future__ import annotations

from xinyong.ledger.service import EVENT_COLUMNS, KINDS


def test_every_column_of_a_ledgered_table_is_committed_to() -> None:
    for kind, table in KINDS.items():
        columns = tuple(column.name for column in table.columns)
        assert columns == EVENT_COLUMNS[kind], (
            f"{table.name} has columns {columns}, and its ledger events commit to "
            f"{EVENT_COLUMNS[kind]}. Old rows' commitments cover only the old columns: cover "
            "a new column with a new event kind or version (docs/ledger.md), then update "
            "EVENT_COLUMNS deliberately."
        )

"""The batch file readers: format detection, the pre-flight check and row streaming."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from support import (
    MakeInstitution,
    account_row,
    csv_text,
    ingest_path,
    jsonl_bytes,
    new_resident_id,
    table_counts,
)
from xinyong.identity.crypto import KeyRing
from xinyong.ingestion.readers import (
    FileFormat,
    InvalidBatchFileError,
    RowProblem,
    check_file,
    detect_format,
    iter_rows,
    read_csv_header,
)

# --- format detection ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "content_type", "expected"),
    [
        ("rows.jsonl", None, FileFormat.JSONL),
        ("ROWS.JSONL", None, FileFormat.JSONL),
        ("rows.ndjson", None, FileFormat.JSONL),
        ("rows.csv", None, FileFormat.CSV),
        ("Rows.CSV", None, FileFormat.CSV),
        (None, "application/x-ndjson", FileFormat.JSONL),
        (None, "application/jsonl", FileFormat.JSONL),
        (None, "application/x-jsonlines", FileFormat.JSONL),
        (None, "text/csv", FileFormat.CSV),
        (None, "text/csv; charset=utf-8", FileFormat.CSV),
        (None, "Text/CSV", FileFormat.CSV),
        # The filename wins over the media type.
        ("rows.csv", "application/x-ndjson", FileFormat.CSV),
        ("rows.txt", "text/csv", FileFormat.CSV),
        ("rows.json", None, None),
        ("rows.txt", "application/octet-stream", None),
        (None, "application/json", None),
        (None, None, None),
        ("", "", None),
    ],
)
def test_detect_format(
    filename: str | None, content_type: str | None, expected: FileFormat | None
) -> None:
    assert detect_format(filename, content_type) is expected


# --- the pre-flight check -----------------------------------------------------------------


def test_check_file_hashes_and_counts_jsonl(tmp_path: Path) -> None:
    content = b'{"a": 1}\n\n{"b": 2}\n{"c": 3}'  # no final newline: still 4 lines
    path = tmp_path / "rows.jsonl"
    path.write_bytes(content)
    check = check_file(path, FileFormat.JSONL)
    assert check.sha256 == hashlib.sha256(content).hexdigest()
    assert check.rows == 4


def test_check_file_counts_csv_rows_after_the_header(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("a,b\n1,2\n3,4\n5,6\n", encoding="utf-8")
    assert check_file(path, FileFormat.CSV).rows == 3


def test_check_file_spans_read_blocks(tmp_path: Path) -> None:
    """A multi-byte character cut by the 1 MiB read block is still valid UTF-8."""
    prefix = b"x" * ((1 << 20) - 1)
    content = b'{"name": "' + prefix + "张".encode() + b'"}\n'
    path = tmp_path / "big.jsonl"
    path.write_bytes(content)
    check = check_file(path, FileFormat.JSONL)
    assert check.sha256 == hashlib.sha256(content).hexdigest()
    assert check.rows == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("a,b\n张三,1\n".encode("gbk"), "not valid UTF-8"),
        (b'{"a": "\xff"}\n', "not valid UTF-8"),
        ('{"a": "张"}\n'.encode()[:-4], "ends inside a UTF-8 character"),
    ],
)
def test_check_file_refuses_non_utf8(content: bytes, message: str, tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(content)
    with pytest.raises(InvalidBatchFileError, match=message) as caught:
        check_file(path, FileFormat.JSONL)
    assert caught.value.code == "invalid_batch_file"
    assert caught.value.status == 400


def test_check_file_reports_the_offset_of_the_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_bytes(b"a,b\n1,\xe9\n")
    with pytest.raises(InvalidBatchFileError, match=r"byte 6\b"):
        check_file(path, FileFormat.CSV)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"\n", "empty"),
        (b" , \n1,2\n", "empty"),
        (b"a,,b\n1,2,3\n", "empty column name"),
        (b"a,b,a\n1,2,3\n", "repeats the column 'a'"),
        (b"a, b ,b\n1,2,3\n", "repeats the column 'b'"),
        (b"\xef\xbb\xbfa,b,a\n1,2,3\n", "repeats the column 'a'"),
    ],
)
def test_unusable_csv_header_is_refused(content: bytes, message: str, tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_bytes(content)
    with pytest.raises(InvalidBatchFileError, match=message):
        check_file(path, FileFormat.CSV)


@pytest.mark.parametrize("column", ["blood_type", "血型", "Blood Type", "bloodType", "宗教信仰"])
def test_csv_header_with_a_forbidden_column_is_refused(column: str, tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text(f"record_key,{column},balance\nA,O,1.00\n", encoding="utf-8")
    with pytest.raises(InvalidBatchFileError, match="forbidden columns") as caught:
        check_file(path, FileFormat.CSV)
    assert caught.value.extensions == {"code_detail": "forbidden_field", "columns": [column]}


def test_csv_header_strips_bom_and_spaces(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_bytes("\ufeffrecord_key , balance\r\nA,1.00\r\n".encode())
    assert read_csv_header(path) == ["record_key", "balance"]


def test_jsonl_needs_no_header(tmp_path: Path) -> None:
    """An empty JSON Lines file is a batch of no rows, not an error."""
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b"")
    assert check_file(path, FileFormat.JSONL).rows == 0
    assert list(iter_rows(path, FileFormat.JSONL)) == []


# --- JSON Lines rows ----------------------------------------------------------------------


def test_jsonl_rows_are_numbered_by_line_and_blank_lines_skipped(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'{"n": 1}\n\n   \n{"n": 4}\r\n\t\n{"n": 6}')
    assert list(iter_rows(path, FileFormat.JSONL)) == [(1, {"n": 1}), (4, {"n": 4}), (6, {"n": 6})]


def test_jsonl_unparsable_lines_become_row_problems(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'{"n": 1}\n{"n": \n[1, 2]\n"text"\n{"n": 5}\n')
    rows = list(iter_rows(path, FileFormat.JSONL))
    assert [number for number, _ in rows] == [1, 2, 3, 4, 5]
    assert rows[0][1] == {"n": 1}
    assert isinstance(rows[1][1], RowProblem)
    assert rows[1][1].code == "invalid_json"
    assert isinstance(rows[2][1], RowProblem)
    assert rows[2][1].code == "not_an_object"
    assert isinstance(rows[3][1], RowProblem)
    assert rows[3][1].code == "not_an_object"
    assert rows[4][1] == {"n": 5}


def test_jsonl_with_a_bom_reads_its_first_line(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"n": 1}\n{"n": 2}\n')
    assert list(iter_rows(path, FileFormat.JSONL)) == [(1, {"n": 1}), (2, {"n": 2})]


def test_jsonl_resumes_at_a_row(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'{"n": 1}\n{"n": 2}\n\n{"n": 4}\n{"n": 5}\n')
    assert [n for n, _ in iter_rows(path, FileFormat.JSONL, start_row=2)] == [2, 4, 5]
    assert [n for n, _ in iter_rows(path, FileFormat.JSONL, start_row=3)] == [4, 5]
    assert list(iter_rows(path, FileFormat.JSONL, start_row=6)) == []


# --- CSV rows -----------------------------------------------------------------------------


def test_csv_rows_are_numbered_after_the_header(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_bytes(
        b'\xef\xbb\xbfkey,note\r\nA,one\r\nB,"two\nlines"\r\n\r\nD,\r\nE\r\nF,x,y\r\nG,g\r\n'
    )
    rows = list(iter_rows(path, FileFormat.CSV))
    assert [number for number, _ in rows] == [1, 2, 4, 5, 6, 7]
    assert rows[0][1] == {"key": "A", "note": "one"}
    assert rows[1][1] == {"key": "B", "note": "two\nlines"}
    assert rows[2][1] == {"key": "D"}  # an empty cell is an absent field
    for number, problem in (rows[3], rows[4]):
        assert isinstance(problem, RowProblem), number
        assert problem.code == "column_count"
    assert "1 cells" in rows[3][1].message  # type: ignore[union-attr]
    assert "3 cells" in rows[4][1].message  # type: ignore[union-attr]
    assert rows[5] == (7, {"key": "G", "note": "g"})


def test_csv_row_that_cannot_be_parsed_keeps_the_numbering(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("key,note\nA," + "x" * 200_000 + "\nB,b\n", encoding="utf-8")
    rows = list(iter_rows(path, FileFormat.CSV))
    assert isinstance(rows[0][1], RowProblem)
    assert rows[0][0] == 1
    assert rows[0][1].code == "invalid_csv"
    assert rows[1] == (2, {"key": "B", "note": "b"})


def test_csv_resumes_at_a_row(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("key\nA\nB\nC\nD\n", encoding="utf-8")
    assert list(iter_rows(path, FileFormat.CSV, start_row=3)) == [
        (3, {"key": "C"}),
        (4, {"key": "D"}),
    ]


def test_csv_of_only_a_header_has_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("key,note\n", encoding="utf-8")
    assert check_file(path, FileFormat.CSV).rows == 0
    assert list(iter_rows(path, FileFormat.CSV)) == []


# --- through the batch runner -------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content"),
    [
        (
            "gbk.csv",
            csv_text(
                ["record_key", "subject_name"], [{"record_key": "A", "subject_name": "张三"}]
            ).encode("gbk"),
        ),
        (
            "latin1.jsonl",
            json.dumps({"subject_name": "José"}, ensure_ascii=False).encode("latin-1"),
        ),
        ("empty.csv", b""),
        ("dupes.csv", b"record_key,balance,balance\nA,1,2\n"),
        ("forbidden.csv", b"record_key,blood_type\nA,O\n"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_unreadable_file_is_refused_before_a_batch_exists(
    name: str,
    content: bytes,
    tmp_path: Path,
    db: Engine,
    factory: sessionmaker[Session],
    keys: KeyRing,
    make_institution: MakeInstitution,
) -> None:
    bank = make_institution("bank-a", record_types=["credit_account"])
    path = tmp_path / name
    path.write_bytes(content)
    before = table_counts(db)
    with pytest.raises(InvalidBatchFileError):
        ingest_path(factory, keys, bank.id, path)
    assert table_counts(db) == before
    assert before["ingestion_batches"] == 0


def test_bom_csv_ingests_with_the_first_column_intact(
    tmp_path: Path, factory: sessionmaker[Session], keys: KeyRing, make_institution: MakeInstitution
) -> None:
    bank = make_institution("bank-a", record_types=["credit_account"])
    row = account_row(new_resident_id())
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + csv_text(list(row), [row]).replace("\n", "\r\n").encode())
    result = ingest_path(factory, keys, bank.id, path)
    assert result.rejections == []
    assert (result.rows.created, result.rows.rejected) == (1, 0)


def test_jsonl_blank_lines_keep_row_numbers_in_rejections(
    tmp_path: Path, factory: sessionmaker[Session], keys: KeyRing, make_institution: MakeInstitution
) -> None:
    bank = make_institution("bank-a", record_types=["credit_account"])
    person = new_resident_id()
    path = tmp_path / "rows.jsonl"
    path.write_bytes(
        jsonl_bytes(
            [
                account_row(person, "A"),
                "",
                "",
                account_row(person, "B", balance="-1"),
                "",
                account_row(person, "C"),
                "{broken",
            ]
        )
    )
    result = ingest_path(factory, keys, bank.id, path)
    assert (result.rows.created, result.rows.rejected) == (2, 2)
    assert [(r.row_number, r.field, r.code) for r in result.rejections] == [
        (4, "balance", "invalid_amount"),
        (7, None, "invalid_json"),
    ]

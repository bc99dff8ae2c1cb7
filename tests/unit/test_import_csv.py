"""The import's CSV reading, column mapping and row parsing, without a database."""

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm.importer.csvfile import NotACsv, count_data_records, data_chunks, sniff
from crm.importer.mapping import resolve
from crm.importer.rows import Parsed, Rejected, RowConfig, parse_chunk
from gateway.errors import InvalidInput
from gateway.phones import lookup_key

SECRET = "unit-test-lookup-key"
STATUSES = {"new": "new", "call back": "callback", "callback": "callback"}


def write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "in.csv"
    path.write_bytes(data)
    return path


def rows_of(path: Path, size: int = 1000, skip: int = 0) -> list[tuple[int, list[str] | None]]:
    fmt = sniff(path)
    return [r for chunk in data_chunks(path, fmt, skip=skip, size=size) for r in chunk]


def test_bom_blank_lines_quoted_newlines_and_crlf(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        b'\xef\xbb\xbf\r\n\r\nName,Phone,Address\r\n"Rao, Asha",98450 12301,"1 Road\r\nPune"\r\n'
        b"\r\nRavi,98450 12302,\r\n",
    )
    fmt = sniff(path)
    assert fmt.encoding == "utf-8-sig" and fmt.delimiter == ","
    assert fmt.header == ["Name", "Phone", "Address"] and fmt.header_records == 3
    assert rows_of(path) == [
        (4, ["Rao, Asha", "98450 12301", "1 Road\r\nPune"]),
        (5, []),
        (6, ["Ravi", "98450 12302", ""]),
    ]
    assert count_data_records(path, fmt) == 3


def test_encodings_fall_back_to_windows_then_latin1(tmp_path: Path) -> None:
    text = "Nom;Téléphone\nRené;0612345678\n"
    assert sniff(write(tmp_path, text.encode("cp1252"))).encoding == "cp1252"
    assert sniff(write(tmp_path, text.encode("utf-8"))).encoding == "utf-8-sig"
    # 0x81 is undefined in Windows-1252: only Latin-1 reads this file.
    path = write(tmp_path, b"Name,Phone\nA\x81b,0612345678\n")
    fmt = sniff(path)
    assert fmt.encoding == "latin-1" and rows_of(path)[0][1] == ["A\x81b", "0612345678"]


def test_delimiters_nul_bytes_and_chunks_that_resume(tmp_path: Path) -> None:
    path = write(
        tmp_path, b"Name\tPhone\n" + b"".join(b"L%d\t9845\x0012%03d\n" % (i, i) for i in range(7))
    )
    assert sniff(path).delimiter == "\t"
    fmt = sniff(path)
    chunks = list(data_chunks(path, fmt, skip=0, size=3))
    assert [len(c) for c in chunks] == [3, 3, 1]
    assert chunks[0][0] == (2, ["L0", "984512000"])
    resumed = list(data_chunks(path, fmt, skip=4, size=3))
    assert [r[0] for c in resumed for r in c] == [6, 7, 8]
    # Small chunks first, doubling up to the usual size; the rows are the same.
    ramp = list(data_chunks(path, fmt, skip=0, size=3, first=1))
    assert [len(c) for c in ramp] == [1, 2, 3, 1]
    assert [r for c in ramp for r in c] == [r for c in chunks for r in c]
    assert [len(c) for c in data_chunks(path, fmt, skip=4, size=3, first=2)] == [2, 1]
    assert [len(c) for c in data_chunks(path, fmt, skip=0, size=3, first=5)] == [3, 3, 1]


def test_empty_files_have_no_header(tmp_path: Path) -> None:
    for data in (b"", b"\r\n\n  \n"):
        with pytest.raises(NotACsv):
            sniff(write(tmp_path, data))


def test_header_detection_and_explicit_mappings() -> None:
    header = ["First Name", "Last Name", "Mobile No.", "WhatsApp", "E-Mail", "Lead Status", "X"]
    assert resolve(header, None) == [
        (0, "name"),
        (1, "name"),
        (2, "phone"),
        (3, "alt_phones"),
        (4, "email"),
        (5, "status"),
    ]
    assert resolve(header, {"x": "custom:notes", "mobile no.": "phone", "E-Mail": ""}) == [
        (2, "phone"),
        (6, "custom:notes"),
    ]
    for bad in (
        {"X": "phone", "WhatsApp": "phone"},
        {"Nope": "phone"},
        {"X": "fax"},
        {"X": "custom:"},
        {"X": 3},
        {"X": "name"},
    ):
        with pytest.raises(InvalidInput) as err:
            resolve(header, bad)
        assert err.value.field == "mapping"
    with pytest.raises(InvalidInput):
        resolve(["Name", "Company"], None)


def config(columns: list[tuple[int, str]], width: int) -> RowConfig:
    return RowConfig(
        columns=tuple(columns), width=width, region="IN", secret=SECRET, statuses=STATUSES
    )


def test_rows_are_normalized_or_rejected_with_a_reason() -> None:
    cfg = config(
        [(0, "name"), (1, "phone"), (2, "email"), (3, "alt_phones"), (4, "tags"), (5, "status"),
         (6, "custom:city")],
        7,
    )  # fmt: skip
    parsed = parse_chunk(
        cfg,
        [
            (2, ["Asha", "098450-12301", "A@X.IO", "+44 20 7946 0321; bad; 9845012301", "a, b|a",
                 "Call Back", "Pune"]),
            (3, ["", "", "", "", "", "", ""]),
            (4, ["Ravi", "12345", "", "", "", "", ""]),
            (5, ["Nil", " ", "x@y.z", "", "", "", ""]),
            (6, ["Eve", "9845012302", "nope", "", "", "", ""]),
            (7, ["Bad", "9845012303", "", "", "", "archived", ""]),
            (8, ["Wide", "9845012304", "", "", "", "", "", "spill"]),
            (9, ["Short", "9845012305"]),
            (10, None),
            (11, ["x" * 201, "9845012306", "", "", "", "", ""]),
        ],
    )  # fmt: skip
    asha = parsed[0]
    assert isinstance(asha, Parsed)
    assert asha.e164 == "+919845012301" and asha.key == lookup_key(SECRET, "+919845012301")
    assert asha.alts == [("+442079460321", lookup_key(SECRET, "+442079460321"))]
    assert asha.values == {
        "name": "Asha",
        "email": "a@x.io",
        "tags": ["a", "b"],
        "status": "callback",
        "custom_fields": {"city": "Pune"},
    }
    assert asha.warnings == [("invalid_phone", "alt_phones", "'bad' is not a valid phone number")]
    rest = parsed[1:]
    assert [
        (p.row, p.code, p.field) if isinstance(p, Rejected) else (p.row, "ok") for p in rest
    ] == [
        (4, "invalid_phone", "phone"),
        (5, "missing_phone", "phone"),
        (6, "ok"),
        (7, "bad_row", "status"),
        (8, "bad_row", None),
        (9, "ok"),
        (10, "bad_row", None),
        (11, "bad_row", "name"),
    ]
    eve = rest[2]
    assert isinstance(eve, Parsed) and "email" not in eve.values
    assert eve.warnings == [("invalid_email", "email", "'nope' is not an e-mail address")]


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(alphabet='a,"\n\r\x00 ;', max_size=60))
def test_the_count_is_the_records_the_chunks_give(tmp_path: Path, body: str) -> None:
    # Stray and unclosed quotes, bare \r line ends, NUL bytes, blank lines: the total the job
    # reports is the number of records it goes through.
    path = write(tmp_path, ("Name,Phone\n" + body).encode())
    fmt = sniff(path)
    assert count_data_records(path, fmt) == len(rows_of(path, size=7))


def test_the_count_takes_a_record_the_reader_rejects_as_one(tmp_path: Path) -> None:
    # A quote never closed: the reader rejects what follows as one oversized field.
    path = write(tmp_path, b'Name,Phone\nA,1\n"B,' + b"x" * 200_000 + b"\nC,3\n")
    fmt = sniff(path)
    chunks = rows_of(path)
    assert None in [cells for _, cells in chunks]
    assert count_data_records(path, fmt) == len(chunks)

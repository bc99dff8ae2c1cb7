"""Reading an uploaded CSV as a stream of records: encoding, delimiter, header, chunks."""

import codecs
import collections
import csv
import itertools
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

# Tried in order. cp1252 is what spreadsheets on Windows export; a byte it leaves undefined
# (0x81, 0x8D, 0x8F, 0x90, 0x9D) means the file is something else, and latin-1 takes any byte.
ENCODINGS = ("utf-8-sig", "cp1252", "latin-1")
DELIMITERS = (",", ";", "\t", "|")
READ_BLOCK = 1024 * 1024
# A cell larger than this is not a CSV cell (an unclosed quote swallowed the rest of the file).
MAX_FIELD_CHARS = 100_000


class NotACsv(ValueError):
    """The file has no header record (empty, or only blank lines)."""


@dataclass(frozen=True)
class CsvFormat:
    encoding: str
    delimiter: str
    header: list[str]
    # Records before the first data record: blank lines and the header itself.
    header_records: int


def detect_encoding(path: Path) -> str:
    """The first of ENCODINGS that decodes the whole file (read in blocks: constant memory)."""
    for encoding in ENCODINGS[:-1]:
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with path.open("rb") as raw:
                while block := raw.read(READ_BLOCK):
                    decoder.decode(block)
                decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        return encoding
    return ENCODINGS[-1]


def _sniff_delimiter(line: str) -> str:
    """The delimiter used most in the header line (European spreadsheets export `;`)."""
    counts = {d: line.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _lines(path: Path, encoding: str) -> Iterator[str]:
    # newline="" keeps quoted newlines inside their cell, as the csv module requires.
    with path.open(encoding=encoding, newline="") as text:
        while block := text.readlines(READ_BLOCK):
            # NUL bytes are never meaningful in a CSV cell; dropping them keeps the row. Looked
            # for once per block: most files have none, and their lines go to csv untouched.
            if any("\x00" in line for line in block):
                block = [line.replace("\x00", "") for line in block]
            yield from block


def records(path: Path, encoding: str, delimiter: str) -> Iterator[list[str] | None]:
    """Every record of the file in order; None stands for a record the csv module rejected.

    Blank lines are yielded as empty lists, so record numbers match the file's rows.
    """
    reader = csv.reader(_lines(path, encoding), delimiter=delimiter)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error:
            yield None
            continue
        if row and max(map(len, row)) > MAX_FIELD_CHARS:
            yield None
            continue
        yield row


def sniff(path: Path) -> CsvFormat:
    """Encoding, delimiter and header (the first non-blank record) of the file."""
    encoding = detect_encoding(path)
    first_line = ""
    for line in _lines(path, encoding):
        if line.strip():
            first_line = line
            break
    if not first_line:
        raise NotACsv("the file is empty")
    delimiter = _sniff_delimiter(first_line)
    for n, row in enumerate(records(path, encoding, delimiter), start=1):
        if row is None:
            raise NotACsv("the header row is not valid CSV")
        if any(cell.strip() for cell in row):
            header = [cell.strip() for cell in row]
            return CsvFormat(encoding, delimiter, header, header_records=n)
    raise NotACsv("the file has no header row")


def count_data_records(path: Path, fmt: CsvFormat) -> int:
    """How many records follow the header (blank lines included): the job's `total_rows`.

    The records `records` gives, counted without looking at them: the csv module's reader
    drained by C code (a third less time), a record it rejects counted as one, as there.
    """
    reader = csv.reader(_lines(path, fmt.encoding), delimiter=fmt.delimiter)
    counter = itertools.count()
    while True:
        try:
            collections.deque(zip(reader, counter, strict=False), maxlen=0)
        except csv.Error:
            next(counter)
            continue
        return next(counter) - fmt.header_records


def data_chunks(
    path: Path, fmt: CsvFormat, *, skip: int, size: int, first: int | None = None
) -> Generator[list[tuple[int, list[str] | None]], None, None]:
    """Lists of (row number, record) after the header, `size` records each, the first `skip`
    data records left out (a resumed job). With `first`, the lists start at that size and
    double up to `size`. Row numbers count every record from 1 (the header's is
    `header_records`), as a spreadsheet numbers its rows when no cell spans lines."""
    chunk: list[tuple[int, list[str] | None]] = []
    limit = min(first or size, size)
    for n, row in enumerate(records(path, fmt.encoding, fmt.delimiter), start=1):
        if n <= fmt.header_records + skip:
            continue
        chunk.append((n, row))
        if len(chunk) >= limit:
            yield chunk
            chunk = []
            limit = min(2 * limit, size)
    if chunk:
        yield chunk

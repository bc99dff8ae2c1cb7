"""A report's result, and its JSON and CSV renderings."""

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from crm.reports.params import ReportParams

# Spreadsheets run a cell that starts with one of these as a formula; numbers such as
# "+919876543210" or "-3" are left alone so that phone numbers stay readable.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBERISH = re.compile(r"^[+-]?[\d .()-]*$")


@dataclass
class Report:
    name: str
    params: ReportParams
    columns: list[str]
    rows: list[dict[str, Any]]
    # Report-wide figures (totals, distributions), JSON only unless `csv_totals` is set.
    extra: dict[str, Any] = field(default_factory=dict)
    # Appended to the CSV as a last row (e.g. the organization's total).
    csv_totals: dict[str, Any] | None = None
    truncated: bool = False

    def to_json(self) -> dict[str, Any]:
        period = self.params.period
        body: dict[str, Any] = {
            "report": self.name,
            "from": local_iso(period.start, self.params),
            "to": local_iso(period.end, self.params),
            "timezone": period.tz.key,
            "generated_at": local_iso(self.params.now, self.params),
            "filters": self.params.filters_json(),
            "group_by": list(self.params.group_by) or None,
            "columns": self.columns,
            "rows": [
                {c: _json_value(r.get(c), self.params) for c in self.columns} for r in self.rows
            ],
            "truncated": self.truncated,
        }
        body.update({k: _json_value(v, self.params) for k, v in self.extra.items()})
        return body

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(self.columns)
        rows = list(self.rows)
        if self.csv_totals is not None:
            rows.append(self.csv_totals)
        for row in rows:
            writer.writerow([_csv_cell(row.get(c), self.params) for c in self.columns])
        return out.getvalue()

    def filename(self) -> str:
        period = self.params.period
        first = period.start.astimezone(period.tz).date()
        last = (period.end - timedelta(microseconds=1)).astimezone(period.tz).date()
        return f"{self.name}_{first.isoformat()}_{last.isoformat()}.csv"


def local_iso(value: datetime, params: ReportParams) -> str:
    return value.astimezone(params.period.tz).isoformat()


def _json_value(value: Any, params: ReportParams) -> Any:
    if isinstance(value, datetime):
        return local_iso(value, params)
    if isinstance(value, dict):
        return {k: _json_value(v, params) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_value(v, params) for v in value]
    return value


def _csv_cell(value: Any, params: ReportParams) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return local_iso(value, params)
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if text.startswith(_FORMULA_START) and not _NUMBERISH.match(text):
        return "'" + text
    return text

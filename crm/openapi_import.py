"""OpenAPI paths and schemas of bulk lead imports (`/api/imports`)."""

from typing import Any

from gateway.openapi import PAGING, TIMESTAMP, _errors, _json, _list_of, _path, _query

REF = "#/components/schemas/"
ISSUE_CODES = [
    "invalid_phone",
    "missing_phone",
    "duplicate_in_file",
    "exists_skipped",
    "exists_updated",
    "exists_merged",
    "dnc_suppressed",
    "invalid_email",
    "bad_row",
]
OPTIONS: dict[str, Any] = {
    "mapping": {
        "type": "string",
        "description": "JSON object of CSV column to lead field: name, company, email, phone, "
        "alt_phones (or alt_phone), address, status, source, tags, custom:<name>. Default: "
        "detected from the header names (Phone, Mobile, Name, First Name, Email, ...), other "
        "columns ignored. Exactly one column must be the phone",
    },
    "default_region": {
        "type": "string",
        "description": "ISO country of numbers written without a country code "
        "(default: the organization's)",
    },
    "on_existing": {
        "enum": ["skip", "update", "merge"],
        "description": "A row whose number belongs to a lead: skip it (default), update the "
        "lead with the row's non-empty values (and status), or merge (fill only the lead's "
        "empty fields). Both add the row's tags and alternate numbers",
    },
    "source": {"type": "string", "description": "Source label of the new leads (default import)"},
    "team_id": {"type": "integer", "description": "Team of the new leads"},
    "owner_id": {"type": "integer", "description": "Owner of all the new leads"},
}

SCHEMAS: dict[str, Any] = {
    "ImportJob": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "status": {"enum": ["queued", "running", "completed", "failed"]},
            "filename": {"type": ["string", "null"]},
            "created_by": {"type": ["integer", "null"]},
            "total_rows": {
                "type": ["integer", "null"],
                "description": "Records after the header (blank lines included); null until "
                "the job starts",
            },
            "processed_rows": {"type": "integer"},
            "percent": {"type": "number"},
            "counters": {
                "type": "object",
                "properties": {
                    "created": {"type": "integer"},
                    "updated": {"type": "integer"},
                    "merged": {"type": "integer"},
                    "skipped": {
                        "type": "integer",
                        "description": "duplicate_in_file, exists_skipped and dnc_suppressed rows",
                    },
                    "errors": {
                        "type": "integer",
                        "description": "rows not imported: invalid_phone, missing_phone, bad_row",
                    },
                },
            },
            "error": {"type": ["string", "null"], "description": "Why a failed job failed"},
            "options": {"type": "object"},
            "encoding": {"enum": ["utf-8-sig", "cp1252", "latin-1"]},
            "delimiter": {"type": "string"},
            "mapping": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "The columns read, to their lead field",
            },
            "created_at": {"type": "string", "format": "date-time"},
            "started_at": TIMESTAMP,
            "finished_at": TIMESTAMP,
            "duration_s": {"type": ["number", "null"]},
            "rows_per_s": {"type": ["integer", "null"]},
        },
    },
    "ImportRowIssue": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "row": {
                "type": "integer",
                "description": "Record number in the file, the header's included",
            },
            "code": {"enum": ISSUE_CODES},
            "field": {"type": ["string", "null"]},
            "message": {"type": "string"},
            "lead_id": {
                "type": ["integer", "null"],
                "description": "The lead created, updated or matched",
            },
        },
    },
}

PATHS: dict[str, Any] = {
    "/api/imports": {
        "post": {
            "summary": "Upload a CSV of leads; it is imported in the background (admin, manager)",
            "description": "The body is the CSV (text/csv), or multipart/form-data with a "
            "`file` part and the options as form fields. Options may also be query "
            "parameters. Encoding (UTF-8, else Windows-1252/Latin-1) and delimiter "
            "(, ; tab |) are detected. Progress: GET the job, or the Socket.IO event "
            "`import_progress` {job: ImportJob} (namespace /dialer, to the uploader) after "
            "every chunk and at the end. At the end one `import.completed` integration event "
            "is written with the counters (no `lead.created` per row).",
            "parameters": [_query(name, schema, "") for name, schema in OPTIONS.items()],
            "requestBody": {
                "required": True,
                "content": {
                    "text/csv": {"schema": {"type": "string"}},
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["file"],
                            "properties": {
                                "file": {"type": "string", "format": "binary"},
                                **OPTIONS,
                            },
                        }
                    },
                },
            },
            "responses": {
                "202": _json({"$ref": REF + "ImportJob"}, "Queued"),
                **_errors(400, 401, 403, 413, 415),
            },
        },
        "get": {
            "summary": "Import jobs, newest first (admins: all; managers: their own)",
            "parameters": PAGING,
            "responses": {"200": _json(_list_of(REF + "ImportJob")), **_errors(400, 401, 403)},
        },
    },
    "/api/imports/{job_id}": {
        "get": {
            "summary": "One import job: status, counters and progress",
            "parameters": [_path("job_id")],
            "responses": {"200": _json({"$ref": REF + "ImportJob"}), **_errors(401, 403, 404)},
        }
    },
    "/api/imports/{job_id}/issues": {
        "get": {
            "summary": "The rows not imported as given, in file order",
            "parameters": [
                _path("job_id"),
                _query("code", {"enum": ISSUE_CODES}, "Only this kind"),
                _query(
                    "format",
                    {"enum": ["json", "csv"]},
                    "csv: every issue as a download (row, code, field, message, lead_id)",
                ),
                *PAGING,
            ],
            "responses": {
                "200": {
                    "description": "A page of issues, or the CSV",
                    "content": {
                        "application/json": {"schema": _list_of(REF + "ImportRowIssue")},
                        "text/csv": {"schema": {"type": "string"}},
                    },
                },
                **_errors(400, 401, 403, 404),
            },
        }
    },
}

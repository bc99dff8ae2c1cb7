"""The carrier webhook pipeline: route, verify, record, apply, push."""

"""The one source of 'now' (UTC, aware), replaceable in tests."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)

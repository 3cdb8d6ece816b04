"""Numbers as answers show them."""

from __future__ import annotations

from typing import Any


def json_number(value: Any) -> float | int | None:
    """A database number for a JSON answer: integral values as ints (exact below 2**53), others as
    floats, None as null."""
    if value is None:
        return None
    if isinstance(value, int):
        return value
    number = float(value)
    return int(number) if number.is_integer() and abs(number) < 2**53 else number

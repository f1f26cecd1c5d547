"""Typed reading of one row's cells; every bad cell becomes a :class:`Problem`, never an exception."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import TypeVar

from aidpack.db import to_quantity
from aidpack.ingest.errors import Problem
from aidpack.web.fields import CODE_PATTERN, MAX_DATE, MIN_DATE

E = TypeVar("E", bound=StrEnum)

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CODE = re.compile(CODE_PATTERN)
CODE_RULE = "letters A-Z, digits and . _ : + - (no spaces), starting with a letter or digit"
_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0"})
#: Quantities are stored as BIGINT millionths: keep far below its limit.
MAX_QUANTITY = Decimal(10**12)
MAX_INTEGER = 2**31 - 1
#: Dates lie where the API has them: the engine adds transit days to them (9999-12-31 plus a day crashed it).
DATE_RANGE = f"a date from {MIN_DATE} to {MAX_DATE}"


def _first_odd(code: str) -> str:
    """Where a code leaves the pattern, when it is by a character: a space, one the eye cannot see, a look-alike."""
    for position, char in enumerate(code, start=1):
        if char == " ":
            return f"; character {position} is a space"
        if not char.isascii() or char.isspace() or unicodedata.category(char) == "Cc":
            name = unicodedata.name(char, "a control character")
            shown = "which does not show" if char.isspace() or unicodedata.category(char) in ("Cc", "Cf") \
                else f"{char!r}, not A-Z"
            return f"; character {position} is U+{ord(char):04X} {name}, {shown}"
    return ""


class RowCells:
    """One data row. Methods return the parsed value, or ``None`` when the cell is empty or bad."""

    def __init__(
        self, file: str, row: int, cells: Mapping[str, str], present: frozenset[str], problems: list[Problem]
    ) -> None:
        self.file = file
        self.row = row
        self.cells = cells
        self.present = present
        self.problems = problems
        self.ok = True

    def has(self, column: str) -> bool:
        """Whether the file has this column at all (an absent column leaves existing values alone)."""
        return column in self.present

    def raw(self, column: str) -> str:
        return self.cells.get(column, "")

    def problem(self, column: str | None, value: str, expected: str) -> None:
        self.ok = False
        self.problems.append(Problem(self.file, self.row, column, value, expected))

    def _cell(self, column: str, required: bool) -> str | None:
        if column not in self.present:
            return None  # a missing required column is reported once, on the header row
        value = self.cells.get(column, "")
        if value == "":
            if required:
                self.problem(column, "", "a value (this column is required)")
            return None
        return value

    def text(self, column: str, *, required: bool = False, max_length: int | None = None) -> str | None:
        value = self._cell(column, required)
        if value is not None and max_length is not None and len(value) > max_length:
            self.problem(column, value, f"at most {max_length} characters")
            return None
        return value

    def code(self, column: str, *, required: bool = False, max_length: int = 64) -> str | None:
        """A code or ref (or a reference to one) as the API has them: a character the eye cannot see (a zero-width
        space pasted from a web page) would make a second ``N-1`` that looks like the first, or a reference that
        looks right and is not found."""
        value = self.text(column, required=required, max_length=max_length)
        if value is None or _CODE.fullmatch(value):
            return value
        self.problem(column, value, f"a code of {CODE_RULE}{_first_odd(value)}")
        return None

    def _decimal(self, column: str, value: str) -> Decimal | None:
        if not _NUMBER.match(value):
            self.problem(column, value, "a number (digits with an optional '.' decimal point)")
            return None
        try:
            number = Decimal(value)
        except InvalidOperation:
            self.problem(column, value, "a number")
            return None
        if not number.is_finite():
            self.problem(column, value, "a finite number")
            return None
        return number

    def quantity(self, column: str, *, required: bool = False, positive: bool = True) -> Decimal | None:
        """An exact amount (six decimals); positive (> 0) or, with ``positive=False``, not negative."""
        value = self._cell(column, required)
        if value is None:
            return None
        number = self._decimal(column, value)
        if number is None:
            return None
        if abs(number) >= MAX_QUANTITY:
            self.problem(column, value, f"a number below {MAX_QUANTITY:,}")
            return None
        exact = to_quantity(number)
        if positive and exact <= 0:
            self.problem(column, value, "a number greater than zero")
            return None
        if not positive and exact < 0:
            self.problem(column, value, "a number that is not negative")
            return None
        return exact

    def integer(
        self, column: str, *, required: bool = False, minimum: int = 0, maximum: int = MAX_INTEGER
    ) -> int | None:
        value = self._cell(column, required)
        if value is None:
            return None
        number = self._decimal(column, value)
        if number is None:
            return None
        if number != number.to_integral_value():
            self.problem(column, value, "a whole number")
            return None
        if number < minimum or number > maximum:
            bound = "greater than zero" if minimum == 1 else f"at least {minimum}"
            self.problem(column, value, f"a whole number {bound} and at most {maximum:,}")
            return None
        return int(number)

    def coordinate(self, column: str, *, limit: int, required: bool = False) -> float | None:
        value = self._cell(column, required)
        if value is None:
            return None
        number = self._decimal(column, value)
        if number is None:
            return None
        if not -limit <= number <= limit:
            self.problem(column, value, f"a number from -{limit} to {limit} (decimal degrees)")
            return None
        return float(value)

    def boolean(self, column: str, *, required: bool = False) -> bool | None:
        value = self._cell(column, required)
        if value is None:
            return None
        word = value.lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        self.problem(column, value, "true or false (also yes/no, 1/0)")
        return None

    def date(self, column: str, *, required: bool = False) -> dt.date | None:
        value = self._cell(column, required)
        if value is None:
            return None
        if not _ISO_DATE.match(value):
            self.problem(column, value, "an ISO date YYYY-MM-DD")
            return None
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            self.problem(column, value, "a real calendar date YYYY-MM-DD (this day does not exist)")
            return None
        if not MIN_DATE <= day <= MAX_DATE:
            self.problem(column, value, DATE_RANGE)
            return None
        return day

    def choice(self, column: str, enum: type[E], *, required: bool = False) -> E | None:
        value = self._cell(column, required)
        if value is None:
            return None
        word = value.lower()
        for member in enum:
            if member.value == word:
                return member
        self.problem(column, value, f"one of {', '.join(m.value for m in enum)}")
        return None

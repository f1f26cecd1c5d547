"""Field types shared by the API schemas: codes, refs, free text, quantities, dates.

Every constraint is one the OpenAPI document states (pattern, bounds), so that a request the document
calls valid passes validation; input models are strict (a number is a JSON number, not a string).
Rules that JSON Schema cannot state (dates within range) are checked by the services.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

from pydantic import BeforeValidator, Field, StringConstraints

from aidpack.db import to_quantity
from aidpack.errors import ValidationFailed

CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:+-]{0,63}$"

#: A code or ref as the scenario files spell it (``UA-63``, ``GEN-100KW``, ``N-0042``).
Code = Annotated[str, StringConstraints(pattern=CODE_PATTERN, max_length=64)]

#: Free text: no control characters (PostgreSQL refuses NUL), bounded length.
Name = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f]+$", min_length=1, max_length=300)]
Text = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$", max_length=4000)]


def _json_integer(value: object) -> object:
    """JSON Schema's integer: a whole JSON number (``5`` or ``5.0``), never a string or a boolean."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a whole number")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("must be a whole number")
        return int(value)
    return value


#: A whole number as JSON Schema means it.
WholeNumber = BeforeValidator(_json_integer)

MAX_QUANTITY = 1e9
#: A positive quantity in its declared unit; stored exactly, rounded to six decimals.
PositiveQuantity = Annotated[float, Field(ge=1e-6, le=MAX_QUANTITY, allow_inf_nan=False, strict=True)]
Money = Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False, strict=True)]
People = Annotated[int, Field(gt=0, le=10**9), WholeNumber]
NonNegativePeople = Annotated[int, Field(ge=0, le=10**9), WholeNumber]
Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False, strict=True)]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False, strict=True)]
Date = dt.date

MIN_DATE = dt.date(2000, 1, 1)
MAX_DATE = dt.date(2100, 12, 31)


def exact(value: float) -> Decimal:
    """A quantity as stored: exact, six decimals."""
    return to_quantity(value)


def check_date(value: dt.date | None, *, field: str) -> dt.date | None:
    """Dates must lie in a plausible window (the engine adds transit days to them)."""
    if value is not None and not MIN_DATE <= value <= MAX_DATE:
        raise ValidationFailed(
            f"{field} must lie between {MIN_DATE} and {MAX_DATE}",
            context={"field": field, "value": str(value)},
        )
    return value

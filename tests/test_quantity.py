"""Quantities are exact decimals stored as integers of millionths, on every backend."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite

from aidpack.db import QUANTITY_SCALE, QUANTUM, Quantity

BIGINT = st.integers(min_value=-(2**63), max_value=2**63 - 1)


@given(BIGINT)
def test_a_stored_integer_reads_back_as_its_millionths_to_six_places(stored: int) -> None:
    read = Quantity().process_result_value(stored, sqlite.dialect())
    assert read == Decimal(stored) / QUANTITY_SCALE
    assert read is not None
    assert read.as_tuple().exponent == QUANTUM.as_tuple().exponent  # "1.000000", as every quantity prints


@given(BIGINT)
def test_what_is_read_writes_back_as_the_same_integer(stored: int) -> None:
    quantity = Quantity()
    assert quantity.process_bind_param(quantity.process_result_value(stored, sqlite.dialect()),
                                       sqlite.dialect()) == stored

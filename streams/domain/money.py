"""Money as an exact `Decimal` with its ISO 4217 currency.

Floats never carry money in dealpulse: an amount arrives as a decimal string
and stays a `Decimal` until it is exported to Prometheus.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
)


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


# Exact arithmetic for aggregation. Sums of money and seconds must not depend on
# the order they are added in, so nothing may be rounded: 60 digits of precision
# and a trap on `Inexact` make any rounding an error instead of a silent drift.
EXACT = Context(
    prec=60,
    rounding=ROUND_HALF_EVEN,
    traps=[InvalidOperation, DivisionByZero, Overflow, Inexact],
)
# Conversion to the reporting currency is the one place that rounds, on purpose,
# once per amount, to `REPORTING_QUANTUM` (half-even), so every later sum is exact.
REPORTING_QUANTUM = Decimal("0.000001")
_ROUNDING = Context(prec=60, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, Overflow])


def round_reporting(amount: Decimal) -> Decimal:
    """`amount` rounded half-even to `REPORTING_QUANTUM` (6 decimals)."""
    return amount.quantize(REPORTING_QUANTUM, context=_ROUNDING)


def multiply_exact(left: Decimal, right: Decimal) -> Decimal:
    """`left * right` with no rounding (60 digits are plenty for money * rate)."""
    return EXACT.multiply(left, right)


MIN_RATE = Decimal("1e-9")
MAX_RATE = Decimal("1e9")
RATE_MAX_DIGITS = 20
"""Bounds of a conversion rate. Conversion multiplies exactly before its one rounding: an
amount (at most 13 integer digits and 6 decimals) times a rate of at most 20 significant
digits stays well within the 60 digits of exact arithmetic, and no real rate (from about
0.00002 for the weakest currencies to 10^5 for a coin) is near the range's ends."""


def rate_problem(rate: Decimal) -> str | None:
    """Why `rate` cannot be a conversion rate, or None when it can."""
    if not rate.is_finite() or rate <= 0:
        return f"{rate} is not a positive number"
    if not MIN_RATE <= rate <= MAX_RATE:
        return f"{rate} is outside {MIN_RATE:f} to {MAX_RATE:f}"
    digits = "".join(map(str, rate.as_tuple().digits)).strip("0")  # never rounded, unlike normalize
    if len(digits) > RATE_MAX_DIGITS:
        return f"{rate} has more than {RATE_MAX_DIGITS} significant digits"
    return None

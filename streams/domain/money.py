"""Money as an exact `Decimal` with its ISO 4217 currency.

Floats never carry money in dealpulse: an amount arrives as a decimal string
and stays a `Decimal` until it is exported to Prometheus.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"

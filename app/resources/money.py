"""Amounts as Sure's accounts API prints them: ``Money#format`` in the English locale (what
Sure's API controllers, which skip the web's locale switching, run under) and the amount in
minor units (``balance_cents``)."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

from app.resources.currencies import CURRENCIES, Currency

_THOUSANDS = re.compile(r"(\d)(?=(\d{3})+$)")


def currency_for(iso_code: str) -> Currency:
    """Sure's table entry; a code Sure does not know is printed with its ISO code as the
    symbol, two decimals, after the number (Sure itself would refuse such an account)."""
    return CURRENCIES.get(iso_code) or Currency(iso_code, ".", ",", "%n %u", 2, 100)


def _symbol(iso_code: str, currency: Currency) -> str:
    # Money::Formatting#get_symbol: "$" is ambiguous, so other dollars get a prefix (CA$).
    if currency.symbol == "$" and iso_code != "USD":
        return iso_code[:2] + "$"
    return currency.symbol


def format_money(amount: Decimal, iso_code: str) -> str:
    """``Money.new(amount, iso_code).format`` with locale :en: ActiveSupport's
    ``number_to_currency`` (half-up rounding to the currency's precision, delimited thousands,
    ``-`` before the format for an amount that does not round to zero)."""
    currency = currency_for(iso_code)
    delimiter, separator = currency.delimiter, currency.separator
    if iso_code == "EUR":  # Money::Formatting#locale_options: [EUR, :en] -> "," and "."
        delimiter, separator = ",", "."
    pattern = currency.format
    magnitude = abs(amount)
    quantum = Decimal(1).scaleb(-currency.precision)
    rounded = magnitude.quantize(quantum, rounding=ROUND_HALF_UP)
    if amount < 0 and magnitude * (Decimal(10) ** currency.precision) >= Decimal("0.5"):
        pattern = "-" + pattern  # number_to_currency: negative_format = "-#{format}"
    whole, _, fraction = f"{rounded:f}".partition(".")
    number = _THOUSANDS.sub(rf"\1{delimiter}", whole)
    if currency.precision > 0:
        number += separator + fraction
    return pattern.replace("%n", number).replace("%u", _symbol(iso_code, currency))


def minor_units(amount: Decimal, iso_code: str) -> int:
    """``(amount * minor_unit_conversion).round(0).to_i``: BigDecimal rounds half up."""
    scaled = amount * currency_for(iso_code).minor_unit_conversion
    return int(scaled.quantize(Decimal(1), rounding=ROUND_HALF_UP))

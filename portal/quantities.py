"""Parsing and checking order quantities: whole, positive numbers only."""

from __future__ import annotations

import re

from portal.errors import PortalError

MAX_QUANTITY = 1_000_000
_DIGITS = re.compile(r"[0-9]+")
_NEGATIVE_DIGITS = re.compile(r"-\s*[0-9]+")


def parse_quantity(text: str | int) -> int:
    """Return the quantity typed by a user, or raise PortalError saying why not.

    Only plain digits are accepted: "1,5", "0.1", "-1", "0", "abc" and "" are rejected,
    never rounded or truncated.
    """
    if isinstance(text, bool):
        raise PortalError("quantity.not_whole", value=str(text))
    if isinstance(text, int):
        value = text
    else:
        stripped = text.strip()
        if not stripped:
            raise PortalError("quantity.missing")
        if _NEGATIVE_DIGITS.fullmatch(stripped):
            raise PortalError("quantity.not_positive", value=stripped)
        if not _DIGITS.fullmatch(stripped):
            raise PortalError("quantity.not_whole", value=stripped)
        value = int(stripped)

    if value <= 0:
        raise PortalError("quantity.not_positive", value=str(value))
    if value > MAX_QUANTITY:
        raise PortalError("quantity.too_large", value=str(value), maximum=MAX_QUANTITY)
    return value


def check_quantity_rules(quantity: int, min_quantity: int, order_multiple: int) -> None:
    """Raise PortalError if the quantity breaks a product's minimum or pack size."""
    if quantity < min_quantity:
        raise PortalError("quantity.below_minimum", quantity=quantity, minimum=min_quantity)
    if quantity % order_multiple:
        raise PortalError("quantity.not_multiple", quantity=quantity, multiple=order_multiple)

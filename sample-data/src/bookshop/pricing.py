"""Prices, discounts and VAT."""

VAT_RATE = 0.07  # reduced rate for books
MEMBER_DISCOUNT = 0.10


def price_with_vat(price_cents: int) -> int:
    return round(price_cents * (1 + VAT_RATE))


def member_price(price_cents: int, is_member: bool) -> int:
    """Members get a discount before VAT is applied."""
    if is_member:
        price_cents = round(price_cents * (1 - MEMBER_DISCOUNT))
    return price_with_vat(price_cents)

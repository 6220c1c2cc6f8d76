import pytest

from portal.errors import PortalError
from portal.quantities import MAX_QUANTITY, check_quantity_rules, parse_quantity


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("0", "quantity.not_positive"),
        ("-1", "quantity.not_positive"),
        ("-1,5", "quantity.not_whole"),
        ("1,5", "quantity.not_whole"),
        ("0.1", "quantity.not_whole"),
        ("1.0", "quantity.not_whole"),
        ("abc", "quantity.not_whole"),
        ("1e3", "quantity.not_whole"),
        ("", "quantity.missing"),
        ("   ", "quantity.missing"),
        ("٣", "quantity.not_whole"),
        (str(MAX_QUANTITY + 1), "quantity.too_large"),
    ],
)
def test_parse_quantity_rejects(text, code):
    with pytest.raises(PortalError) as raised:
        parse_quantity(text)

    assert raised.value.code == code


@pytest.mark.parametrize(("text", "expected"), [("1", 1), (" 12 ", 12), ("007", 7), (3, 3)])
def test_parse_quantity_accepts_whole_positive(text, expected):
    assert parse_quantity(text) == expected


def test_parse_quantity_rejects_bool():
    with pytest.raises(PortalError):
        parse_quantity(True)


def test_quantity_below_minimum_rejected():
    with pytest.raises(PortalError) as raised:
        check_quantity_rules(5, min_quantity=6, order_multiple=1)

    assert raised.value.code == "quantity.below_minimum"


def test_quantity_not_in_pack_multiple_rejected():
    with pytest.raises(PortalError) as raised:
        check_quantity_rules(13, min_quantity=1, order_multiple=6)

    assert raised.value.code == "quantity.not_multiple"


def test_quantity_meeting_rules_accepted():
    check_quantity_rules(12, min_quantity=6, order_multiple=6)

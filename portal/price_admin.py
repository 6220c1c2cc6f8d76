"""The supplier's price lists, their volume prices, and each customer's price list and discount.

A price list holds, per product, unit prices from a minimum quantity up ("from 10: 1.80").
A customer with a price list pays the tier with the highest from-quantity not above the
ordered quantity, or the product's list price below the first tier, less their discount
(see portal.pricing.customer_unit_price).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal import audit
from portal.catalog import normalize_search_text
from portal.errors import NotFound, PortalError, Problems
from portal.models import Customer, PriceList, PriceListItem, Product
from portal.quantities import MAX_QUANTITY

log = logging.getLogger(__name__)

MAX_PRICE_LIST_NAME_LENGTH = 200
# Unit prices are stored as NUMERIC(12, 4): at most 8 digits before the decimal point.
MAX_UNIT_PRICE = Decimal("99999999.9999")
UNIT_PRICE_DECIMALS = 4
DISCOUNT_DECIMALS = 2
MAX_DISCOUNT = Decimal(100)
PRICES_PAGE_SIZE = 50

# A plain decimal number with a point or a comma as decimal separator: "12", "12.5",
# "0,1250". Thousands separators are rejected, because "1,250" could mean either.
_DECIMAL = re.compile(r"(?P<sign>[-+]?)(?P<whole>[0-9]*)(?:[.,](?P<fraction>[0-9]*))?")
_WHOLE = re.compile(r"[0-9]+")


def _parse_decimal(value: str | Decimal, prefix: str, decimals: int) -> Decimal:
    """Parse a typed amount, raising PortalError `{prefix}_missing`, `_invalid`, `_negative` or `_too_precise`."""
    text = format(value, "f") if isinstance(value, Decimal) else str(value).strip()
    if not text:
        raise PortalError(f"{prefix}_missing")
    match = _DECIMAL.fullmatch(text)
    if match is None or not (match["whole"] or match["fraction"]):
        raise PortalError(f"{prefix}_invalid", value=text)
    fraction = match["fraction"] or ""
    number = Decimal(f"{match['whole'] or '0'}.{fraction or '0'}")
    if match["sign"] == "-" and number != 0:
        raise PortalError(f"{prefix}_negative", value=text)
    # Trailing zeros add no precision: 1.50000 is a price of four decimals.
    if len(fraction.rstrip("0")) > decimals:
        raise PortalError(f"{prefix}_too_precise", value=text)
    return number.quantize(Decimal(1).scaleb(-decimals))


def parse_unit_price(value: str | Decimal) -> Decimal:
    """Return a typed unit price as Decimal: 0 or more, at most four decimals."""
    price = _parse_decimal(value, "price_list.price", UNIT_PRICE_DECIMALS)
    if price > MAX_UNIT_PRICE:
        raise PortalError("price_list.price_too_large", value=str(value).strip(), maximum=str(MAX_UNIT_PRICE))
    return price


def parse_discount(value: str | Decimal) -> Decimal:
    """Return a typed discount percentage as Decimal: 0 to 100, at most two decimals. Empty means 0."""
    if isinstance(value, str) and not value.strip():
        return Decimal("0.00")
    discount = _parse_decimal(value, "customer.discount", DISCOUNT_DECIMALS)
    if discount > MAX_DISCOUNT:
        raise PortalError("customer.discount_out_of_range", value=str(value).strip())
    return discount


def parse_from_quantity(value: str | int) -> int:
    """Return a typed from-quantity: a whole number from 1 to MAX_QUANTITY."""
    if isinstance(value, bool):
        raise PortalError("price_list.from_quantity_invalid", value=str(value))
    text = str(value).strip()
    if not text:
        raise PortalError("price_list.from_quantity_missing")
    if not _WHOLE.fullmatch(text) or int(text) < 1:
        raise PortalError("price_list.from_quantity_invalid", value=text)
    if int(text) > MAX_QUANTITY:
        raise PortalError("price_list.from_quantity_too_large", value=text, maximum=MAX_QUANTITY)
    return int(text)


# Price lists ----------------------------------------------------------------------------


def _check_name(session: Session, name: str, price_list_id: int | None) -> str:
    name = " ".join(name.split())
    if not name:
        raise Problems([PortalError("price_list.name_missing")])
    if len(name) > MAX_PRICE_LIST_NAME_LENGTH:
        raise Problems([PortalError("price_list.name_too_long", maximum=MAX_PRICE_LIST_NAME_LENGTH)])
    taken = select(PriceList.id).where(func.lower(PriceList.name) == name.lower())
    if price_list_id is not None:
        taken = taken.where(PriceList.id != price_list_id)
    if session.scalar(taken.limit(1)) is not None:
        raise Problems([PortalError("price_list.name_taken", name=name)])
    return name


def _audit(session: Session, action: str, admin_id: int, price_list_id: int, detail: str = "") -> None:
    audit.record(session, action, actor_id=admin_id, object_type="price_list", object_id=price_list_id, detail=detail)


def _flush_name(session: Session, name: str) -> None:
    """Flush in a savepoint, turning a race on the unique name into the usual message."""
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Problems([PortalError("price_list.name_taken", name=name)]) from None


def create_price_list(session: Session, admin_id: int, name: str) -> PriceList:
    """Add an empty price list with a unique name."""
    name = _check_name(session, name, None)
    price_list = PriceList(name=name)
    session.add(price_list)
    _flush_name(session, name)
    _audit(session, "price_list_created", admin_id, price_list.id, name)
    log.info("Admin %s created price list %s", admin_id, price_list.id)
    return price_list


def _price_list(session: Session, price_list_id: int) -> PriceList:
    price_list = session.get(PriceList, price_list_id, with_for_update=True)
    if price_list is None:
        raise NotFound("price_list")
    return price_list


def rename_price_list(session: Session, admin_id: int, price_list_id: int, name: str) -> None:
    """Give a price list another unique name."""
    price_list = _price_list(session, price_list_id)
    price_list.name = _check_name(session, name, price_list_id)
    _flush_name(session, price_list.name)
    _audit(session, "price_list_renamed", admin_id, price_list_id, price_list.name)
    log.info("Admin %s renamed price list %s", admin_id, price_list_id)


def delete_price_list(session: Session, admin_id: int, price_list_id: int) -> None:
    """Delete a price list and its prices, unless a customer still uses it."""
    price_list = _price_list(session, price_list_id)
    customer_count = session.scalar(select(func.count(Customer.id)).where(Customer.price_list_id == price_list_id)) or 0
    if customer_count:
        raise Problems([PortalError("price_list.in_use", name=price_list.name, count=customer_count)])
    session.execute(delete(PriceListItem).where(PriceListItem.price_list_id == price_list_id))
    session.delete(price_list)
    _audit(session, "price_list_deleted", admin_id, price_list_id, price_list.name)
    log.info("Admin %s deleted price list %s", admin_id, price_list_id)


@dataclass(frozen=True)
class PriceListRow:
    id: int
    name: str
    price_count: int
    customer_count: int


def list_price_lists(session: Session) -> list[PriceListRow]:
    """Return every price list by name, with its number of prices and of customers using it."""
    prices = (
        select(PriceListItem.price_list_id, func.count(PriceListItem.id).label("count"))
        .group_by(PriceListItem.price_list_id)
        .subquery()
    )
    customers = (
        select(Customer.price_list_id, func.count(Customer.id).label("count"))
        .where(Customer.price_list_id.is_not(None))
        .group_by(Customer.price_list_id)
        .subquery()
    )
    rows = session.execute(
        select(PriceList.id, PriceList.name, func.coalesce(prices.c.count, 0), func.coalesce(customers.c.count, 0))
        .outerjoin(prices, prices.c.price_list_id == PriceList.id)
        .outerjoin(customers, customers.c.price_list_id == PriceList.id)
        .order_by(PriceList.name, PriceList.id)
    )
    return [PriceListRow(*row) for row in rows]


# Prices in a list -----------------------------------------------------------------------


@dataclass(frozen=True)
class PriceRow:
    item_id: int
    product_id: int
    sku: str
    name: str
    min_quantity: int
    unit_price: Decimal
    list_price: Decimal
    product_active: bool


@dataclass(frozen=True)
class SavedPrice:
    row: PriceRow
    # The unit price this tier had before, or None when the tier is new.
    previous_price: Decimal | None


def set_price(
    session: Session,
    admin_id: int,
    price_list_id: int,
    sku: str,
    from_quantity: str | int,
    unit_price: str | Decimal,
) -> SavedPrice:
    """Set a product's unit price in a price list from a quantity up, adding or replacing the tier."""
    price_list = _price_list(session, price_list_id)
    problems: list[PortalError] = []
    sku = sku.strip()
    product = None
    if not sku:
        problems.append(PortalError("price_list.sku_missing"))
    else:
        product = session.scalar(select(Product).where(Product.sku == sku))
        if product is None:
            problems.append(PortalError("price_list.sku_not_found", sku=sku))
    quantity = price = None
    try:
        quantity = parse_from_quantity(from_quantity)
    except PortalError as error:
        problems.append(error)
    try:
        price = parse_unit_price(unit_price)
    except PortalError as error:
        problems.append(error)
    if problems:
        raise Problems(problems)
    assert product is not None and quantity is not None and price is not None

    tier = select(PriceListItem).where(
        PriceListItem.price_list_id == price_list.id,
        PriceListItem.product_id == product.id,
        PriceListItem.min_quantity == quantity,
    )
    item = session.scalar(tier.with_for_update())
    previous = item.unit_price if item is not None else None
    if item is None:
        item = PriceListItem(
            price_list_id=price_list.id, product_id=product.id, min_quantity=quantity, unit_price=price
        )
        try:
            # Another admin may add the same tier at the same moment; theirs is then replaced.
            with session.begin_nested():
                session.add(item)
                session.flush()
        except IntegrityError:
            item = session.scalar(tier.with_for_update())
            assert item is not None
            previous = item.unit_price
    item.unit_price = price
    session.flush()
    _audit(session, "price_set", admin_id, price_list.id, f"{product.sku} from {quantity}: {previous} -> {price}")
    log.info(
        "Admin %s set price list item %s (price list %s, product %s, from %s)",
        admin_id,
        item.id,
        price_list.id,
        product.id,
        quantity,
    )
    row = PriceRow(item.id, product.id, product.sku, product.name, quantity, price, product.list_price, product.active)
    return SavedPrice(row, previous)


def remove_prices(session: Session, admin_id: int, price_list_id: int, item_ids: Sequence[int]) -> int:
    """Remove tiers from a price list by id; return how many were removed."""
    _price_list(session, price_list_id)
    ids = set(item_ids)
    if not ids:
        return 0
    result = session.execute(
        delete(PriceListItem).where(PriceListItem.price_list_id == price_list_id, PriceListItem.id.in_(ids))
    )
    removed = result.rowcount or 0
    _audit(session, "prices_removed", admin_id, price_list_id, f"{removed} items")
    log.info("Admin %s removed %s items from price list %s: %s", admin_id, removed, price_list_id, sorted(ids))
    return removed


@dataclass(frozen=True)
class PricePage:
    rows: list[PriceRow]
    total: int
    page: int
    page_count: int


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_prices(
    session: Session, price_list_id: int, query: str = "", page: int = 0, page_size: int = PRICES_PAGE_SIZE
) -> PricePage:
    """Return one page of a price list's tiers by SKU and from-quantity; pages count from 0.

    A query keeps the products whose SKU, EAN or name contains each of its words.
    """
    conditions = [PriceListItem.price_list_id == price_list_id]
    for word in normalize_search_text(query).split()[:10]:
        conditions.append(Product.search_text.like(f"%{_escape_like(word)}%", escape="\\"))
    base = select(PriceListItem).join(Product, Product.id == PriceListItem.product_id).where(*conditions)
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    page_count = max(1, -(-total // page_size))
    page = min(max(page, 0), page_count - 1)
    rows = session.execute(
        select(
            PriceListItem.id,
            Product.id,
            Product.sku,
            Product.name,
            PriceListItem.min_quantity,
            PriceListItem.unit_price,
            Product.list_price,
            Product.active,
        )
        .join(Product, Product.id == PriceListItem.product_id)
        .where(*conditions)
        .order_by(Product.sku, PriceListItem.min_quantity, PriceListItem.id)
        .offset(page * page_size)
        .limit(page_size)
    )
    return PricePage([PriceRow(*row) for row in rows], total, page, page_count)


# Customer prices ------------------------------------------------------------------------


def assign_customer_prices(
    session: Session, admin_id: int, customer_id: int, price_list_id: int | None, discount: str | Decimal
) -> None:
    """Give a customer a price list (None for list prices) and a discount percentage off every price."""
    customer = session.get(Customer, customer_id, with_for_update=True)
    if customer is None:
        raise NotFound("customer")
    problems: list[PortalError] = []
    if price_list_id is not None and session.get(PriceList, price_list_id) is None:
        problems.append(PortalError("price_list.not_found"))
    percent = None
    try:
        percent = parse_discount(discount)
    except PortalError as error:
        problems.append(error)
    if problems:
        raise Problems(problems)
    assert percent is not None

    customer.price_list_id = price_list_id
    customer.discount_percent = percent
    audit.record(
        session,
        "customer_prices_set",
        actor_id=admin_id,
        customer_id=customer_id,
        object_type="customer",
        object_id=customer_id,
        detail=f"price list {price_list_id}, discount {percent} %",
    )
    log.info(
        "Admin %s gave customer %s price list %s and discount %s %%", admin_id, customer_id, price_list_id, percent
    )

"""Loading the demo data in data/demo/ into an empty database.

The files hold real products, customers and recent order history of a wholesaler (see
data/demo/README.md). On top of them this module sets stock so that some products are
plentiful, some low and some out of stock, creates the two demo accounts, and places a
few open orders through the ordering code, so backorders exist from the first sign-in.
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

from sqlalchemy.orm import Session

from portal import accounts, cart, ordering
from portal.catalog import load_customer_context, product_search_text
from portal.models import (
    Address,
    AssortmentItem,
    AssortmentMode,
    Customer,
    Delivery,
    DeliveryLine,
    MovementKind,
    Order,
    OrderLine,
    OrderSource,
    OrderStatus,
    PriceList,
    PriceListItem,
    Product,
    Role,
    StockMovement,
)
from portal.pricing import compute_totals, line_total
from portal.settings import load_settings

log = logging.getLogger(__name__)

DEMO_DIR = Path(__file__).resolve().parent.parent / "data" / "demo"
DEMO_CUSTOMER_USERNAME = "demo-customer"
DEMO_CUSTOMER_PASSWORD = "demo-customer-pass"
DEMO_ADMIN_USERNAME = "demo-admin"
DEMO_ADMIN_PASSWORD = "demo-admin-pass"
# Of every ten products, one is out of stock and one is low; the rest are plentiful.
OUT_OF_STOCK_EVERY = 10
LOW_STOCK_UNITS = 4
SELECTION_SIZE = 120


def _read_csv(name: str) -> list[dict[str, str]]:
    with (DEMO_DIR / name).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _opening_stock(index: int) -> int:
    if index % OUT_OF_STOCK_EVERY == 3:
        return 0
    if index % OUT_OF_STOCK_EVERY == 7:
        return LOW_STOCK_UNITS
    return 40 + (index * 37) % 460


def _load_products(session: Session) -> list[Product]:
    products = []
    for index, row in enumerate(_read_csv("products.csv")):
        product = Product(
            sku=row["sku"],
            name=row["name"],
            list_price=Decimal(row["list_price"]),
            product_group=row["product_group"],
            vat_rate=Decimal(row["vat_rate"]),
            unit=row["unit"] or "pcs",
            description="",
            on_hand=_opening_stock(index),
            allocated=0,
            search_text=product_search_text(row["sku"], None, row["name"]),
        )
        products.append(product)
    session.add_all(products)
    session.flush()
    session.add_all(
        StockMovement(
            product_id=product.id, kind=MovementKind.RECEIPT, on_hand_change=product.on_hand, reference="opening stock"
        )
        for product in products
        if product.on_hand
    )
    return products


# A city per country of the demo customers, for addresses that read like real ones.
DEMO_CITIES = {
    "United Kingdom": ("London", "EC1A 1BB"),
    "Germany": ("Köln", "50667"),
    "France": ("Lyon", "69002"),
    "Ireland": ("Dublin", "D02 X285"),
    "Netherlands": ("Rotterdam", "3011 AB"),
}


def _load_customers(session: Session) -> list[Customer]:
    customers = []
    for row in _read_csv("customers.csv"):
        customer = Customer(number=row["number"], name=row["name"], country=row["country"], language="en")
        customers.append(customer)
    session.add_all(customers)
    session.flush()
    for index, customer in enumerate(customers, start=1):
        city, postcode = DEMO_CITIES.get(customer.country, ("", ""))
        session.add(
            Address(
                customer_id=customer.id,
                name=customer.name,
                street=f"Trade Park, unit {index}",
                postcode=postcode,
                city=city,
                country=customer.country,
                is_default=True,
            )
        )
    return customers


def _load_history(session: Session, customers: dict[str, Customer], products: dict[str, Product]) -> None:
    """Turn the invoice lines into completed orders, and cancellation invoices into cancelled ones."""
    invoices: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in _read_csv("order_lines.csv"):
        invoices[row["invoice"]].append(row)

    for invoice, rows in invoices.items():
        customer = customers[rows[0]["customer_number"]]
        address = customer.addresses[0]
        placed_at = dt.datetime.fromisoformat(rows[0]["invoiced_at_utc"])
        cancelled = invoice.startswith("C")
        lines = []
        for number, row in enumerate(rows, start=1):
            quantity = abs(int(row["quantity"]))
            if quantity == 0:
                continue
            unit_price = Decimal(row["unit_price"])
            lines.append(
                OrderLine(
                    line_number=number,
                    product_id=products[row["sku"]].id,
                    sku=row["sku"],
                    name=row["name"],
                    unit_price=unit_price,
                    vat_rate=products[row["sku"]].vat_rate,
                    quantity=quantity,
                    delivered=0 if cancelled else quantity,
                    cancelled=quantity if cancelled else 0,
                    line_total=line_total(0 if cancelled else quantity, unit_price),
                    queue_position=placed_at,
                )
            )
        if not lines:
            continue
        totals = compute_totals((line.line_total, line.vat_rate) for line in lines)
        order = Order(
            number=invoice,
            customer_id=customer.id,
            status=OrderStatus.CANCELLED if cancelled else OrderStatus.COMPLETED,
            source=OrderSource.IMPORT,
            address_name=address.name,
            address_street=address.street,
            address_postcode=address.postcode,
            address_city=address.city,
            address_country=address.country,
            placed_at=placed_at,
            subtotal=totals.subtotal,
            vat_total=totals.vat_total,
            total=totals.total,
            lines=lines,
        )
        session.add(order)
        if not cancelled:
            delivery = Delivery(
                order=order, delivered_on=(placed_at + dt.timedelta(days=2)).date(), track_and_trace=f"DEMO{invoice}"
            )
            delivery.lines = [DeliveryLine(order_line=line, quantity=line.quantity) for line in lines]
            session.add(delivery)
    session.flush()


def _set_up_demo_company(session: Session, customer: Customer, products: list[Product]) -> None:
    """Give the demo customer a second address, a selection, a price list and a login."""
    customer.name = "Demo Gifts B.V."
    customer.language = "nl"
    customer.vat_number = "NL001234567B01"
    customer.addresses[0].name = "Demo Gifts warehouse"
    customer.addresses[0].street = "Havenweg 12"
    customer.addresses[0].postcode = "3011 AB"
    customer.addresses[0].city = "Rotterdam"
    customer.addresses[0].country = "Netherlands"
    session.add(
        Address(
            customer_id=customer.id,
            name="Demo Gifts shop",
            street="Oudegracht 101",
            postcode="3511 AD",
            city="Utrecht",
            country="Netherlands",
        )
    )

    customer.assortment_mode = AssortmentMode.SELECTION
    selection = products[:SELECTION_SIZE]
    session.add_all(AssortmentItem(customer_id=customer.id, product_id=product.id) for product in selection)

    price_list = PriceList(name="Demo Gifts prices")
    session.add(price_list)
    session.flush()
    customer.price_list_id = price_list.id
    for product in selection[:20]:
        session.add(
            PriceListItem(
                price_list_id=price_list.id,
                product_id=product.id,
                min_quantity=1,
                unit_price=(product.list_price * Decimal("0.90")).quantize(Decimal("0.0001")),
            )
        )
        session.add(
            PriceListItem(
                price_list_id=price_list.id,
                product_id=product.id,
                min_quantity=48,
                unit_price=(product.list_price * Decimal("0.80")).quantize(Decimal("0.0001")),
            )
        )
    session.flush()


def _place_open_orders(session: Session, customer: Customer, user_id: int, products: list[Product]) -> None:
    """Place orders through the ordering code so allocation and backorders are real."""
    context = load_customer_context(session, customer.id)
    out_of_stock = [product for product in products[:SELECTION_SIZE] if product.on_hand == 0][:2]
    low = [product for product in products[:SELECTION_SIZE] if product.on_hand == LOW_STOCK_UNITS][:1]
    plentiful = [product for product in products[:SELECTION_SIZE] if product.on_hand > 100][:2]

    def place(items: list[tuple[Product, int]], comment: str) -> int:
        for product, quantity in items:
            cart.add_to_cart(session, context, user_id, product.id, quantity)
        cart.set_details(session, context, user_id, comment=comment, address_id=customer.addresses[0].id)
        current = cart.get_cart(session, user_id, customer.id)
        assert current is not None
        placed = ordering.place_order(session, context, user_id, current.checkout_token)
        return placed.order_id

    first = place(
        [(out_of_stock[0], 6), (low[0], LOW_STOCK_UNITS + 6), (plentiful[0], 12)], "Please deliver before noon."
    )
    order = session.get(Order, first)
    assert order is not None
    order.status = OrderStatus.ACCEPTED
    shipped = {line.id: line.allocated for line in order.lines if line.allocated and line.product_id == plentiful[0].id}
    ordering.record_delivery(session, order.id, shipped, dt.date.today(), "3SDEMO0001")
    place([(out_of_stock[1], 24), (plentiful[1], 6)], "")


def load_demo_data(session: Session) -> None:
    """Load products, customers, history, accounts and open orders into an empty database."""
    products = _load_products(session)
    customers = _load_customers(session)
    session.flush()
    for customer in customers:
        session.refresh(customer, ["addresses"])
    _load_history(session, {c.number: c for c in customers}, {p.sku: p for p in products})

    load_settings(session).portal_name = "Online Retail"
    demo_company = customers[0]
    _set_up_demo_company(session, demo_company, products)
    customer_user = accounts.create_user(
        session,
        username=DEMO_CUSTOMER_USERNAME,
        name="Demo Customer",
        password=DEMO_CUSTOMER_PASSWORD,
        role=Role.CUSTOMER,
        customer_id=demo_company.id,
        email="demo-customer@example.com",
    )
    accounts.create_user(
        session,
        username=DEMO_ADMIN_USERNAME,
        name="Demo Admin",
        password=DEMO_ADMIN_PASSWORD,
        role=Role.ADMIN,
        email="demo-admin@example.com",
    )
    session.refresh(demo_company, ["addresses"])
    _place_open_orders(session, demo_company, customer_user.id, products)
    log.info("Demo data: %s products, %s customers", len(products), len(customers))

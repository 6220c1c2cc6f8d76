"""Small builders for test data; each returns the new object's id or the object."""

from __future__ import annotations

from decimal import Decimal
from itertools import count

from sqlalchemy.orm import Session

from portal import accounts
from portal.catalog import product_search_text
from portal.models import (
    Address,
    AssortmentItem,
    AssortmentMode,
    Customer,
    PriceList,
    PriceListItem,
    Product,
    Role,
)

_numbers = count(1)


def make_customer(session: Session, *, name: str = "", selection: bool = False, **fields: object) -> Customer:
    number = next(_numbers)
    customer = Customer(
        number=str(fields.pop("number", f"C{number:05d}")),
        name=name or f"Customer {number}",
        assortment_mode=AssortmentMode.SELECTION if selection else AssortmentMode.ALL,
        **fields,
    )
    session.add(customer)
    session.flush()
    return customer


def make_address(session: Session, customer: Customer, *, name: str = "Warehouse", default: bool = True) -> Address:
    address = Address(
        customer_id=customer.id,
        name=name,
        street="Main street 1",
        postcode="1234 AB",
        city="Utrecht",
        country="Netherlands",
        is_default=default,
    )
    session.add(address)
    session.flush()
    return address


def make_product(
    session: Session,
    *,
    sku: str | None = None,
    name: str = "Product",
    price: str = "1.00",
    on_hand: int = 0,
    vat_rate: str = "21",
    ean: str | None = None,
    **fields: object,
) -> Product:
    sku = sku or f"P{next(_numbers):06d}"
    product = Product(
        sku=sku,
        ean=ean,
        name=name,
        list_price=Decimal(price),
        vat_rate=Decimal(vat_rate),
        on_hand=on_hand,
        allocated=0,
        search_text=product_search_text(sku, ean, name),
        **fields,
    )
    session.add(product)
    session.flush()
    return product


def select_products(session: Session, customer: Customer, *products: Product) -> None:
    session.add_all(AssortmentItem(customer_id=customer.id, product_id=product.id) for product in products)
    session.flush()


def make_price_list(session: Session, customer: Customer, prices: list[tuple[Product, int, str]]) -> PriceList:
    price_list = PriceList(name=f"Prices {customer.number}")
    session.add(price_list)
    session.flush()
    for product, min_quantity, unit_price in prices:
        session.add(
            PriceListItem(
                price_list_id=price_list.id,
                product_id=product.id,
                min_quantity=min_quantity,
                unit_price=Decimal(unit_price),
            )
        )
    customer.price_list_id = price_list.id
    session.flush()
    return price_list


def make_user(
    session: Session,
    customer: Customer | None,
    *,
    username: str | None = None,
    password: str = "correct horse battery",
    role: Role = Role.CUSTOMER,
) -> int:
    user = accounts.create_user(
        session,
        username=username or f"user{next(_numbers)}",
        name="Test User",
        password=password,
        role=role,
        customer_id=customer.id if customer else None,
    )
    return user.id

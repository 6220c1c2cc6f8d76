"""Customer companies and their delivery addresses."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Address, Customer


@dataclass(frozen=True)
class CustomerChoice:
    id: int
    number: str
    name: str


def list_customers(session: Session) -> list[CustomerChoice]:
    """Return the active customers by number, for an admin choosing whose screens to see."""
    rows = session.execute(
        select(Customer.id, Customer.number, Customer.name).where(Customer.active.is_(True)).order_by(Customer.number)
    )
    return [CustomerChoice(*row) for row in rows]


@dataclass(frozen=True)
class AddressChoice:
    id: int
    label: str
    is_default: bool


def list_addresses(session: Session, customer_id: int) -> list[AddressChoice]:
    """Return the customer's active delivery addresses, the default one first."""
    addresses = session.scalars(
        select(Address)
        .where(Address.customer_id == customer_id, Address.active.is_(True))
        .order_by(Address.is_default.desc(), Address.id)
    )
    return [
        AddressChoice(a.id, f"{a.name}, {a.street}, {a.postcode} {a.city}, {a.country}", a.is_default)
        for a in addresses
    ]

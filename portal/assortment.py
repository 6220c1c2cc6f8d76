"""The supplier's editing of a customer's assortment: all active products, or a selection.

A selection is filled in bulk, by every match of a product search or every active product
of a product group. It is a snapshot, so a product added to a group later joins the
selection only when the admin adds the group again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, delete, exists, func, insert, literal, select
from sqlalchemy.orm import Session

from portal import audit
from portal.catalog import search_condition
from portal.errors import NotFound, PortalError, Problems
from portal.models import AssortmentItem, AssortmentMode, Customer, Product

log = logging.getLogger(__name__)

SELECTION_PAGE_SIZE = 50
PREVIEW_SIZE = 20


def _audit(session: Session, action: str, admin_id: int, customer_id: int, detail: str) -> None:
    audit.record(
        session,
        action,
        actor_id=admin_id,
        customer_id=customer_id,
        object_type="customer",
        object_id=customer_id,
        detail=detail,
    )


def _customer(session: Session, customer_id: int) -> Customer:
    customer = session.get(Customer, customer_id, with_for_update=True)
    if customer is None:
        raise NotFound("customer")
    return customer


def set_mode(session: Session, admin_id: int, customer_id: int, mode: AssortmentMode | str) -> None:
    """Let the customer see all active products, or only those in their selection."""
    try:
        mode = AssortmentMode(mode)
    except ValueError:
        raise Problems([PortalError("assortment.mode_invalid", value=str(mode))]) from None
    customer = _customer(session, customer_id)
    customer.assortment_mode = mode
    _audit(session, "assortment_mode_set", admin_id, customer_id, mode.value)
    log.info("Admin %s set the assortment of customer %s to %s", admin_id, customer_id, mode.value)


def _add_where(session: Session, customer_id: int, condition: ColumnElement[bool]) -> int:
    """Add every product matching the condition that the selection lacks; return how many."""
    already = exists().where(AssortmentItem.customer_id == customer_id, AssortmentItem.product_id == Product.id)
    chosen = select(literal(customer_id), Product.id).where(condition, ~already)
    # RETURNING counts the new rows on both engines; rowcount is -1 here on PostgreSQL.
    statement = insert(AssortmentItem).from_select(["customer_id", "product_id"], chosen)
    return len(session.execute(statement.returning(AssortmentItem.product_id)).all())


def add_products(session: Session, admin_id: int, customer_id: int, product_ids: Sequence[int]) -> int:
    """Add products to the customer's selection by id; return how many were new to it."""
    _customer(session, customer_id)
    ids = set(product_ids)
    if not ids:
        return 0
    found = set(session.scalars(select(Product.id).where(Product.id.in_(ids))))
    if found != ids:
        raise NotFound("product")
    added = _add_where(session, customer_id, Product.id.in_(ids))
    _audit(session, "assortment_added", admin_id, customer_id, f"{added} products by id")
    log.info("Admin %s added %s products to the selection of customer %s: %s", admin_id, added, customer_id, ids)
    return added


def _search_matches(session: Session, query: str) -> ColumnElement[bool]:
    # The customers' own product search, so "add all matches" adds what a search shows.
    condition = search_condition(session, query)
    if condition is None:
        raise Problems([PortalError("assortment.query_missing")])
    return and_(Product.active.is_(True), condition)


@dataclass(frozen=True)
class ProductMatch:
    id: int
    sku: str
    name: str
    product_group: str


@dataclass(frozen=True)
class SearchPreview:
    # The first PREVIEW_SIZE matches by name, and the number of all matches.
    rows: list[ProductMatch]
    total: int


def preview_search(session: Session, query: str, limit: int = PREVIEW_SIZE) -> SearchPreview:
    """Return the first active products matching a product search, and how many match in all.

    The search is the customers' product search: SKU, EAN or name, every word must match.
    """
    condition = _search_matches(session, query)
    total = session.scalar(select(func.count(Product.id)).where(condition)) or 0
    rows = session.execute(
        select(Product.id, Product.sku, Product.name, Product.product_group)
        .where(condition)
        .order_by(Product.name, Product.id)
        .limit(limit)
    )
    return SearchPreview([ProductMatch(*row) for row in rows], total)


def add_search_matches(session: Session, admin_id: int, customer_id: int, query: str) -> int:
    """Add every active product matching a product search to the selection; return how many were new."""
    _customer(session, customer_id)
    added = _add_where(session, customer_id, _search_matches(session, query))
    _audit(session, "assortment_added", admin_id, customer_id, f"{added} products matching {query!r}")
    log.info(
        "Admin %s added %s products matching a search to the selection of customer %s", admin_id, added, customer_id
    )
    return added


def _group_condition(group: str) -> ColumnElement[bool]:
    if not group.strip():
        raise Problems([PortalError("assortment.group_missing")])
    return and_(Product.active.is_(True), Product.product_group == group)


def add_group(session: Session, admin_id: int, customer_id: int, group: str) -> int:
    """Add every active product of a product group to the selection; return how many were new."""
    _customer(session, customer_id)
    added = _add_where(session, customer_id, _group_condition(group))
    _audit(session, "assortment_added", admin_id, customer_id, f"{added} products of group {group!r}")
    log.info(
        "Admin %s added %s products of group %r to the selection of customer %s", admin_id, added, group, customer_id
    )
    return added


def remove_products(session: Session, admin_id: int, customer_id: int, product_ids: Sequence[int]) -> int:
    """Take products out of the customer's selection; return how many were in it."""
    _customer(session, customer_id)
    ids = set(product_ids)
    if not ids:
        return 0
    result = session.execute(
        delete(AssortmentItem).where(AssortmentItem.customer_id == customer_id, AssortmentItem.product_id.in_(ids))
    )
    removed = result.rowcount or 0
    _audit(session, "assortment_removed", admin_id, customer_id, f"{removed} products by id")
    log.info("Admin %s removed %s products from the selection of customer %s: %s", admin_id, removed, customer_id, ids)
    return removed


def remove_group(session: Session, admin_id: int, customer_id: int, group: str) -> int:
    """Take every product of a product group out of the selection; return how many were in it."""
    _customer(session, customer_id)
    if not group.strip():
        raise Problems([PortalError("assortment.group_missing")])
    in_group = select(Product.id).where(Product.product_group == group)
    result = session.execute(
        delete(AssortmentItem).where(AssortmentItem.customer_id == customer_id, AssortmentItem.product_id.in_(in_group))
    )
    removed = result.rowcount or 0
    _audit(session, "assortment_removed", admin_id, customer_id, f"{removed} products of group {group!r}")
    log.info(
        "Admin %s removed %s products of group %r from the selection of customer %s",
        admin_id,
        removed,
        group,
        customer_id,
    )
    return removed


@dataclass(frozen=True)
class SelectionRow:
    product_id: int
    sku: str
    name: str
    product_group: str
    # An inactive product stays in the selection but no customer sees it.
    active: bool


@dataclass(frozen=True)
class SelectionPage:
    rows: list[SelectionRow]
    total: int
    page: int
    page_count: int


def list_selection(
    session: Session, customer_id: int, page: int = 0, page_size: int = SELECTION_PAGE_SIZE
) -> SelectionPage:
    """Return one page of the customer's selection in SKU order; pages count from 0."""
    condition = AssortmentItem.customer_id == customer_id
    total = session.scalar(select(func.count()).select_from(AssortmentItem).where(condition)) or 0
    page_count = max(1, -(-total // page_size))
    page = min(max(page, 0), page_count - 1)
    rows = session.execute(
        select(Product.id, Product.sku, Product.name, Product.product_group, Product.active)
        .join(AssortmentItem, AssortmentItem.product_id == Product.id)
        .where(condition)
        .order_by(Product.sku, Product.id)
        .offset(page * page_size)
        .limit(page_size)
    )
    return SelectionPage([SelectionRow(*row) for row in rows], total, page, page_count)


@dataclass(frozen=True)
class GroupCount:
    name: str
    # Active products in the group, which is what adding the group adds at most.
    active_products: int


def product_groups(session: Session) -> list[GroupCount]:
    """Return the product groups that have active products, by name, with their counts."""
    rows = session.execute(
        select(Product.product_group, func.count(Product.id))
        .where(Product.active.is_(True), Product.product_group != "")
        .group_by(Product.product_group)
        .order_by(Product.product_group)
    )
    return [GroupCount(name, count) for name, count in rows]

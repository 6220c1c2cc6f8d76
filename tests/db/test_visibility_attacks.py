"""A customer reaching for another company's data by id gets "not found" and changes nothing."""

import pytest
from sqlalchemy import func, select

from portal import cart, catalog, ordering
from portal.catalog import load_customer_context
from portal.errors import NotFound
from portal.models import Cart, CartLine, Order
from tests.factories import make_address, make_customer, make_product, make_user, select_products


@pytest.fixture
def two_companies(database):
    with database.write() as session:
        shared = make_product(session, sku="SHARED", on_hand=10)
        private = make_product(session, sku="PRIVATE", on_hand=10)
        ours = make_customer(session, selection=True)
        select_products(session, ours, shared)
        theirs = make_customer(session)
        ids = {
            "ours": ours.id,
            "our_user": make_user(session, ours),
            "our_address": make_address(session, ours).id,
            "theirs": theirs.id,
            "their_user": make_user(session, theirs),
            "their_address": make_address(session, theirs).id,
            "shared": shared.id,
            "private": private.id,
        }
    with database.write() as session:
        context = load_customer_context(session, ids["theirs"])
        cart.add_to_cart(session, context, ids["their_user"], ids["private"], 2)
        cart.set_details(session, context, ids["their_user"], comment="theirs", address_id=ids["their_address"])
        token = cart.get_cart(session, ids["their_user"], ids["theirs"]).checkout_token
        ids["their_order"] = ordering.place_order(session, context, ids["their_user"], token).number
        ids["their_token"] = token
    return ids


def _our_context(database, ids):
    with database.read() as session:
        return load_customer_context(session, ids["ours"])


def _row_counts(database):
    with database.read() as session:
        return tuple(session.scalar(select(func.count()).select_from(model)) for model in (Order, Cart, CartLine))


def test_other_company_order_not_found(database, two_companies):
    with database.read() as session, pytest.raises(NotFound):
        ordering.get_order(session, two_companies["ours"], two_companies["their_order"])


def test_other_company_backorders_not_listed(database, two_companies):
    with database.read() as session:
        rows = ordering.list_backorders(session, two_companies["ours"])

    assert rows == []


def test_product_outside_assortment_not_found(database, two_companies):
    with database.read() as session, pytest.raises(NotFound):
        catalog.get_product(session, _our_context(database, two_companies), "PRIVATE")


def test_product_outside_assortment_cannot_be_added(database, two_companies):
    before = _row_counts(database)

    with database.write() as session, pytest.raises(NotFound):
        cart.add_to_cart(
            session, _our_context(database, two_companies), two_companies["our_user"], two_companies["private"], 1
        )

    assert _row_counts(database) == before


def test_other_company_address_cannot_be_chosen(database, two_companies):
    before = _row_counts(database)

    with database.write() as session, pytest.raises(NotFound):
        cart.set_details(
            session,
            _our_context(database, two_companies),
            two_companies["our_user"],
            comment="",
            address_id=two_companies["their_address"],
        )

    assert _row_counts(database) == before


def test_other_company_checkout_token_reveals_nothing(database, two_companies):
    with database.write() as session:
        context = _our_context(database, two_companies)
        cart.add_to_cart(session, context, two_companies["our_user"], two_companies["shared"], 1)
    before = _row_counts(database)

    with database.write() as session, pytest.raises(NotFound):
        ordering.place_order(
            session, _our_context(database, two_companies), two_companies["our_user"], two_companies["their_token"]
        )

    assert _row_counts(database) == before


def test_other_company_product_image_not_served(database, two_companies):
    with database.read() as session:
        image = catalog.product_image(session, _our_context(database, two_companies), two_companies["private"])

    assert image is None

"""Attacks through the service layer: odd characters, ids of other companies and hostile uploads.

Each test states what must hold. A test marked xfail documents a hole that is still
open; it turns into a required pass once the hole is closed.
"""

from __future__ import annotations

import csv
import io
import logging
import struct
import zlib

import pytest
from PIL import Image
from sqlalchemy import func, select

from portal import accounts, cart, catalog, imports, ordering
from portal import settings as portal_settings
from portal.catalog import load_customer_context
from portal.errors import NotFound, PortalError
from portal.imports import FORMULA_PREFIXES, FileFormat, ImportKind
from portal.models import Cart, CartLine, Order, PriceList, PriceListItem, SupplierSettings
from tests.factories import make_address, make_customer, make_product, make_user, select_products

NUL = "\x00"
@pytest.fixture
def two_companies(database):
    """Our company (selection assortment) and theirs, with a placed order and a filled cart of theirs."""
    with database.write() as session:
        shared = make_product(session, sku="SHARED", name="Shared mug", on_hand=10)
        private = make_product(session, sku="PRIVATE", name="Private mug", on_hand=10)
        ours = make_customer(session, selection=True)
        select_products(session, ours, shared)
        theirs = make_customer(session)
        ids = {
            "ours": ours.id,
            "our_user": make_user(session, ours, username="our-user"),
            "our_address": make_address(session, ours).id,
            "theirs": theirs.id,
            "their_user": make_user(session, theirs, username="their-user"),
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
        cart.add_to_cart(session, context, ids["their_user"], ids["shared"], 3)
    return ids


def our_context(database, ids):
    with database.read() as session:
        return load_customer_context(session, ids["ours"])


def their_cart_lines(database, ids) -> dict[int, int]:
    with database.read() as session:
        return cart.cart_quantities(session, ids["their_user"], ids["theirs"])


def row_counts(database) -> tuple[int, ...]:
    with database.read() as session:
        return tuple(session.scalar(select(func.count()).select_from(model)) for model in (Order, Cart, CartLine))


# Ids of other companies -------------------------------------------------------------


def test_foreign_line_quantity_not_found(database, two_companies):
    with database.write() as session:
        cart.add_to_cart(
            session, our_context(database, two_companies), two_companies["our_user"], two_companies["shared"], 1
        )
    before = their_cart_lines(database, two_companies)

    with database.write() as session, pytest.raises(NotFound):
        cart.set_quantities(
            session, our_context(database, two_companies), two_companies["our_user"], {two_companies["private"]: "9"}
        )

    assert their_cart_lines(database, two_companies) == before


def test_foreign_line_removal_changes_nothing(database, two_companies):
    before = their_cart_lines(database, two_companies)

    with database.write() as session:
        cart.remove_line(
            session, our_context(database, two_companies), two_companies["our_user"], two_companies["shared"]
        )

    assert their_cart_lines(database, two_companies) == before


def test_foreign_token_names_no_order(database, two_companies):
    with database.read() as session:
        number = ordering.order_number_for_token(session, two_companies["ours"], two_companies["their_token"])

    assert number is None


def test_foreign_order_suffix_not_found(database, two_companies):
    with database.read() as session, pytest.raises(NotFound):
        ordering.get_order(session, two_companies["ours"], two_companies["their_order"] + " ")


# Odd characters ----------------------------------------------------------------------


def test_order_number_with_nul_not_found(database, two_companies):
    with database.read() as session, pytest.raises(NotFound):
        ordering.get_order(session, two_companies["ours"], two_companies["their_order"] + NUL)


def test_search_with_nul_finds_nothing(database, two_companies):
    with database.read() as session:
        page = catalog.search_products(session, our_context(database, two_companies), "mug" + NUL + "mug")

    assert page.rows == []


def test_nul_in_username_is_ignored(database, two_companies):
    # The database layer drops NUL from all text, as it does surrounding spaces from
    # usernames: "our-user\0" is our-user, and no other account.
    with database.read() as session:
        account = accounts.account_for_sign_in(session, "our-user" + NUL)

    assert account.username == "our-user"


def test_nul_username_failure_counted(database, two_companies):
    with database.write() as session:
        locked = accounts.record_failed_sign_in(session, "our-user" + NUL)

    assert locked is False


def test_nul_comment_saved_or_rejected(database, two_companies):
    rejected = False

    try:
        with database.write() as session:
            cart.set_details(
                session,
                our_context(database, two_companies),
                two_companies["our_user"],
                comment="deliver" + NUL + "later",
                address_id=two_companies["our_address"],
            )
    except PortalError:
        rejected = True

    with database.read() as session:
        saved = cart.get_cart(session, two_companies["our_user"], two_companies["ours"]) is not None
    assert rejected or saved


def test_overlong_comment_rejected(database, two_companies):
    before = row_counts(database)

    with database.write() as session, pytest.raises(PortalError) as raised:
        cart.set_details(
            session,
            our_context(database, two_companies),
            two_companies["our_user"],
            comment="x" * (cart.MAX_COMMENT_LENGTH + 1),
            address_id=None,
        )

    assert raised.value.code == "order.comment_too_long"
    assert row_counts(database) == before


@pytest.mark.parametrize("quantity", ["1e3", "0x10", "١٢", " 1 2", "-0", "NaN", "9" * 40])
def test_odd_quantity_rejected(database, two_companies, quantity):
    before = row_counts(database)

    with database.write() as session, pytest.raises(PortalError):
        cart.add_to_cart(
            session, our_context(database, two_companies), two_companies["our_user"], two_companies["shared"], quantity
        )

    assert row_counts(database) == before


def test_sign_in_log_not_forgeable(database, caplog):
    caplog.set_level(logging.INFO)
    forged = "nobody\n2030-01-01 00:00:00 INFO portal.ui.auth: User demo-admin signed in"

    with database.write() as session:
        accounts.record_failed_sign_in(session, forged)

    assert all("\n" not in record.getMessage() for record in caplog.records)


# Hostile logo uploads ----------------------------------------------------------------


def _png_header_only(width: int, height: int) -> bytes:
    """Return a PNG whose header declares a huge image and whose pixel data is a few zero rows."""
    signature = b"\x89PNG\r\n\x1a\n"

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * (width + 1) * 4)
    return signature + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    "data",
    [
        b"<html><script>alert(1)</script></html>",
        b"%PDF-1.4\n1 0 obj<<>>endobj\n",
        b"PK\x03\x04" + b"\x00" * 40,
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 20,
        b"GIF89a<?php system($_GET['c']); ?>",
        b"",
    ],
    ids=["html", "pdf", "zip", "truncated-png", "gif-header-with-php", "empty"],
)
def test_other_file_kinds_rejected_as_logo(database, data):
    with database.write() as session, pytest.raises(PortalError) as raised:
        portal_settings.store_logo(session, data)

    assert raised.value.code == "settings.logo_invalid"


def test_decompression_bomb_logo_rejected(database):
    with database.write() as session, pytest.raises(PortalError) as raised:
        portal_settings.store_logo(session, _png_header_only(40_000, 40_000))

    assert raised.value.code == "settings.logo_invalid"


def test_logo_drops_appended_bytes(database):
    buffer = io.BytesIO()
    Image.new("RGB", (20, 20), "red").save(buffer, format="GIF")
    payload = b"<script>alert(1)</script>"

    with database.write() as session:
        portal_settings.store_logo(session, buffer.getvalue() + payload)

    with database.read() as session:
        stored = session.get(SupplierSettings, 1).logo
    assert payload not in stored


# Exports -----------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", FORMULA_PREFIXES, ids=["equals", "plus", "minus", "at", "tab", "return"])
@pytest.mark.parametrize("kind", list(ImportKind))
def test_csv_export_has_no_formula_cell(database, kind, prefix):
    with database.write() as session:
        product = make_product(
            session,
            sku=f"{prefix}SKU",
            name=f"{prefix}HYPERLINK(1)",
            description=f"{prefix}cmd|' /C calc'!A0",
            product_group=f"{prefix}group",
            unit=f"{prefix}u",
        )
        price_list = PriceList(name=f"{prefix}list")
        session.add(price_list)
        session.flush()
        session.add(PriceListItem(price_list_id=price_list.id, product_id=product.id, min_quantity=1, unit_price=1))

    with database.snapshot() as session:
        text = imports.export_file(session, kind, FileFormat.CSV, "en").decode("utf-8-sig")

    cells = [cell for row in csv.reader(io.StringIO(text, newline="")) for cell in row]
    assert [cell for cell in cells if cell.startswith(FORMULA_PREFIXES)] == []

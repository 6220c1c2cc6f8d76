import io
import struct
import zlib
from decimal import Decimal

import pytest
from PIL import Image
from sqlalchemy import func, select

from portal import cart, ordering, products
from portal.catalog import load_customer_context, search_products
from portal.errors import NotFound, PortalError, Problems
from portal.models import AuditEvent, OrderLine, PriceListItem, Product, ProductImage
from portal.products import ProductInput, list_products, save_products, validate_products
from portal.settings import load_settings
from tests.factories import make_address, make_customer, make_price_list, make_product, make_user


def _save(database, *rows):
    with database.write() as session:
        return save_products(session, rows, user_id=None)


def _product(database, sku):
    with database.read() as session:
        return session.scalar(select(Product).where(Product.sku == sku))


def _product_count(database):
    with database.read() as session:
        return session.scalar(select(func.count(Product.id)))


def _problems(error):
    return [(problem.row, problem.field, problem.code) for problem in error.problems]


def _new(row=1, **fields):
    values = {"sku": "N1", "name": "New product", "list_price": "2,50"} | fields
    return ProductInput(row=row, new=True, **values)


# --- Saving ----------------------------------------------------------------------------


def test_new_product_gets_defaults_and_search_text(database):
    _save(database, _new(ean="8712345678906"))

    product = _product(database, "N1")
    assert product.list_price == Decimal("2.50")
    assert product.vat_rate == Decimal("21")
    assert (product.min_quantity, product.order_multiple, product.active) == (1, 1, True)
    assert product.search_text == "n1 8712345678906 new product"


def test_edit_changes_only_given_fields(database):
    with database.write() as session:
        product_id = make_product(session, sku="E1", name="Old", price="1.00", product_group="Toys").id

    result = _save(database, ProductInput(row=1, product_id=product_id, name="New name"))

    product = _product(database, "E1")
    assert result.updated == 1
    assert product.name == "New name"
    assert product.product_group == "Toys"
    assert product.search_text == "e1 new name"


def test_sku_can_change_when_unique(database):
    with database.write() as session:
        product_id = make_product(session, sku="OLD-1", name="Ball").id

    _save(database, ProductInput(row=1, product_id=product_id, sku="NEW-1"))

    assert _product(database, "NEW-1").search_text == "new-1 ball"
    assert _product(database, "OLD-1") is None


def test_sku_change_to_taken_sku_is_rejected(database):
    with database.write() as session:
        product_id = make_product(session, sku="A1").id
        make_product(session, sku="B1")

    with pytest.raises(Problems) as caught:
        _save(database, ProductInput(row=3, product_id=product_id, sku="B1"))

    assert _problems(caught.value) == [(3, "sku", "product.sku_taken")]


def test_new_product_with_existing_sku_is_rejected(database):
    with database.write() as session:
        make_product(session, sku="N1")

    with pytest.raises(Problems) as caught:
        _save(database, _new())

    assert _problems(caught.value) == [(1, "sku", "product.sku_taken")]


def test_same_sku_twice_in_one_save_is_rejected(database):
    with pytest.raises(Problems) as caught:
        _save(database, _new(row=1), _new(row=2))

    assert _problems(caught.value) == [(2, "sku", "product.sku_twice")]
    assert _product_count(database) == 0


def test_every_bad_field_is_reported_at_once(database):
    rows = [
        _new(row=1, sku="", name=""),
        _new(row=2, sku="N2", list_price="1,23456", vat_rate="19"),
        _new(row=3, sku="N3", min_quantity="-1", order_multiple="2,5"),
        _new(row=4, sku="N4", ean="123"),
    ]

    with database.read() as session:
        problems = validate_products(session, rows)

    assert [(problem.row, problem.field, problem.code) for problem in problems] == [
        (1, "sku", "product.sku_missing"),
        (1, "name", "product.required"),
        (2, "list_price", "product.price_too_precise"),
        (2, "vat_rate", "product.vat_unknown"),
        (3, "min_quantity", "product.quantity_too_small"),
        (3, "order_multiple", "product.quantity_not_whole"),
        (4, "ean", "product.ean_length"),
    ]


def test_one_bad_row_saves_nothing(database):
    with database.write() as session:
        product_id = make_product(session, sku="E1", name="Kept").id

    with pytest.raises(Problems):
        _save(database, ProductInput(row=1, product_id=product_id, name="Changed"), _new(row=2, list_price="-1"))

    assert _product(database, "E1").name == "Kept"
    assert _product_count(database) == 1


def test_emptied_name_is_rejected(database):
    with database.write() as session:
        product_id = make_product(session, sku="E1").id

    with pytest.raises(Problems) as caught:
        _save(database, ProductInput(row=1, product_id=product_id, name="  "))

    assert _problems(caught.value) == [(1, "name", "product.required")]


def test_emptied_ean_is_cleared(database):
    with database.write() as session:
        product_id = make_product(session, sku="E1", ean="8712345678906").id

    _save(database, ProductInput(row=1, product_id=product_id, ean=""))

    assert _product(database, "E1").ean is None


def test_new_product_needs_name_and_price(database):
    with pytest.raises(Problems) as caught:
        _save(database, ProductInput(row=1, new=True, sku="N1"))

    assert _problems(caught.value) == [
        (1, "name", "product.required_for_new"),
        (1, "list_price", "product.required_for_new"),
    ]


def test_vat_rate_follows_settings(database):
    with database.write() as session:
        load_settings(session).vat_rates = "21,9,0,5.5"

    _save(database, _new(vat_rate="5,5"))

    assert _product(database, "N1").vat_rate == Decimal("5.5")


def test_html_is_stored_as_plain_text(database):
    _save(database, _new(name="<b>Bold</b> & <script>x()</script>", description="<img src=x onerror=alert(1)>"))

    product = _product(database, "N1")
    assert product.name == "<b>Bold</b> & <script>x()</script>"
    assert product.description == "<img src=x onerror=alert(1)>"


def test_product_gone_meanwhile_is_reported(database):
    with pytest.raises(Problems) as caught:
        _save(database, ProductInput(row=2, product_id=999_999, name="Ghost"))

    assert _problems(caught.value) == [(2, "", "product.gone")]


def _audit_events(database):
    with database.read() as session:
        return [(event.action, event.object_id, event.detail) for event in session.scalars(select(AuditEvent))]


def test_save_is_recorded_in_audit_log(database):
    with database.write() as session:
        product_id = make_product(session, sku="E1", name="Old").id

    _save(database, ProductInput(row=1, product_id=product_id, name="New", list_price="2,00"), _new(row=2))

    assert _audit_events(database) == [("products_saved", "", "1 new, 1 changed: E1 (list_price, name); N1 (new)")]


def test_unchanged_row_writes_nothing(database):
    with database.write() as session:
        product_id = make_product(session, sku="E1", name="Same", price="1.00").id

    result = _save(database, ProductInput(row=1, product_id=product_id, name="Same", list_price="1,00"))

    assert (result.updated, result.unchanged) == (0, 1)
    assert _audit_events(database) == []


# --- Deactivating ----------------------------------------------------------------------


@pytest.fixture
def ordered_product(database):
    """A product on a price list and on a placed order."""
    with database.write() as session:
        product = make_product(session, sku="HIST", name="History", on_hand=10)
        customer = make_customer(session)
        address = make_address(session, customer)
        user_id = make_user(session, customer)
        make_price_list(session, customer, [(product, 1, "0.90")])
        context = load_customer_context(session, customer.id)
        cart.add_to_cart(session, context, user_id, product.id, 2)
        cart.set_details(session, context, user_id, comment="", address_id=address.id)
        token = cart.get_cart(session, user_id, customer.id).checkout_token
        ordering.place_order(session, context, user_id, token)
        return {"product": product.id, "customer": customer.id}


def test_deactivating_keeps_order_lines_and_prices(database, ordered_product):
    _save(database, ProductInput(row=1, product_id=ordered_product["product"], active=False))

    with database.read() as session:
        lines = session.scalar(
            select(func.count(OrderLine.id)).where(OrderLine.product_id == ordered_product["product"])
        )
        prices = session.scalar(
            select(func.count(PriceListItem.id)).where(PriceListItem.product_id == ordered_product["product"])
        )
    assert _product(database, "HIST").active is False
    assert lines == 1
    assert prices == 1


def test_deactivated_product_leaves_catalogue(database, ordered_product):
    _save(database, ProductInput(row=1, product_id=ordered_product["product"], active=False))

    with database.read() as session:
        page = search_products(session, load_customer_context(session, ordered_product["customer"]))

    assert [row.sku for row in page.rows] == []


def test_admin_list_includes_inactive_products(database):
    with database.write() as session:
        make_product(session, sku="A1", name="Active ball")
        make_product(session, sku="B1", name="Retired ball", active=False)

    with database.read() as session:
        page = list_products(session, "ball")

    assert [row.sku for row in page.rows] == ["A1", "B1"]


def test_admin_list_pages_by_sku(database):
    with database.write() as session:
        for index in range(5):
            make_product(session, sku=f"P{index}")

    with database.read() as session:
        first = list_products(session, page_size=2)
        second = list_products(session, after=first.next_cursor, page_size=2)

    assert [row.sku for row in first.rows] == ["P0", "P1"]
    assert [row.sku for row in second.rows] == ["P2", "P3"]


# --- Photos ----------------------------------------------------------------------------


def _picture(size=(640, 480), mode="RGB", image_format="JPEG", **save_options):
    buffer = io.BytesIO()
    Image.new(mode, size, color=(200, 30, 30, 128)[: len(mode)] if mode != "L" else 100).save(
        buffer, format=image_format, **save_options
    )
    return buffer.getvalue()


def _png_header(width, height):
    """Return a PNG that claims the given size but holds no pixel data: a decompression bomb's header."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


@pytest.fixture
def product_id(database):
    with database.write() as session:
        return make_product(session, sku="PHOTO").id


def _stored(database, product_id):
    with database.read() as session:
        return session.get(ProductImage, product_id)


def test_photo_is_reencoded_without_metadata(database, product_id):
    exif = Image.Exif()
    exif[0x010F] = "Secret camera"
    upload = _picture(exif=exif.tobytes())

    with database.write() as session:
        products.store_image(session, product_id, upload)

    stored = _stored(database, product_id)
    image = Image.open(io.BytesIO(stored.image))
    assert stored.content_type == "image/jpeg"
    assert stored.image != upload
    assert b"Secret camera" not in stored.image
    assert image.size == (640, 480)


def test_thumbnail_fits_in_200_pixels(database, product_id):
    with database.write() as session:
        products.store_image(session, product_id, _picture())

    thumbnail = Image.open(io.BytesIO(_stored(database, product_id).thumbnail))

    assert max(thumbnail.size) == products.THUMBNAIL_SIDE


def test_large_photo_is_scaled_down(database, product_id):
    with database.write() as session:
        products.store_image(session, product_id, _picture(size=(4000, 1000)))

    image = Image.open(io.BytesIO(_stored(database, product_id).image))

    assert image.size == (2000, 500)


def test_transparent_photo_stays_png(database, product_id):
    with database.write() as session:
        products.store_image(session, product_id, _picture(mode="RGBA", image_format="PNG"))

    assert _stored(database, product_id).content_type == "image/png"


def test_new_photo_replaces_old_one(database, product_id):
    with database.write() as session:
        products.store_image(session, product_id, _picture(size=(300, 300)))
    with database.write() as session:
        products.store_image(session, product_id, _picture(size=(400, 100)))

    image = Image.open(io.BytesIO(_stored(database, product_id).image))

    assert image.size == (400, 100)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"%PDF-1.4 not a picture", "product.image_invalid"),
        (b"", "product.image_invalid"),
        (_png_header(7000, 7000), "product.image_too_many_pixels"),
        (_png_header(50_000, 50_000), "product.image_too_many_pixels"),
    ],
)
def test_unusable_photo_is_rejected(database, product_id, data, code):
    with pytest.raises(PortalError) as caught, database.write() as session:
        products.store_image(session, product_id, data)

    assert caught.value.code == code
    assert _stored(database, product_id) is None


def test_truncated_photo_is_rejected(database, product_id):
    with pytest.raises(PortalError) as caught, database.write() as session:
        products.store_image(session, product_id, _picture()[:2000])

    assert caught.value.code == "product.image_invalid"


def test_photo_for_missing_product_is_rejected(database):
    with pytest.raises(NotFound), database.write() as session:
        products.store_image(session, 999_999, _picture())


def test_delete_image_removes_photo(database, product_id):
    with database.write() as session:
        products.store_image(session, product_id, _picture())
    with database.write() as session:
        removed = products.delete_image(session, product_id)

    assert removed is True
    assert _stored(database, product_id) is None


def test_photo_changes_are_recorded_in_audit_log(database, product_id):
    with database.write() as session:
        products.store_image(session, product_id, _picture())
    with database.write() as session:
        products.delete_image(session, product_id)

    assert [(action, sku) for action, sku, _ in _audit_events(database)] == [
        ("product_photo_stored", "PHOTO"),
        ("product_photo_removed", "PHOTO"),
    ]

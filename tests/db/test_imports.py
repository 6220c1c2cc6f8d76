import io
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import func, select

from portal import imports
from portal.errors import PortalError, Problems
from portal.imports import FileFormat, ImportKind, import_file, preview_import, read_import
from portal.integrity import check_invariants
from portal.models import AuditEvent, MovementKind, PriceList, PriceListItem, Product, StockMovement
from portal.settings import load_settings
from tests.factories import make_product

DATA = Path(__file__).resolve().parents[1] / "data" / "imports"
DUTCH_CSV = (DATA / "products_nl_windows1252.csv").read_bytes()
BAD_ROWS_CSV = (DATA / "products_bad_rows.csv").read_bytes()


def _import(database, kind, data, filename="file.csv"):
    with database.write() as session:
        return import_file(session, kind, filename, data, user_id=None)


def _product(database, sku):
    with database.read() as session:
        return session.scalar(select(Product).where(Product.sku == sku))


def _count(database, model):
    with database.read() as session:
        return session.scalar(select(func.count()).select_from(model))


def _problems(error):
    return [(problem.row, problem.field, problem.code) for problem in error.problems]


# --- Products --------------------------------------------------------------------------


def test_dutch_csv_reads_decimal_comma(database):
    _import(database, ImportKind.PRODUCTS, DUTCH_CSV)

    assert _product(database, "00123").list_price == Decimal("4.20")


def test_dutch_csv_reads_thousands_dot(database):
    _import(database, ImportKind.PRODUCTS, DUTCH_CSV)

    assert _product(database, "00124").list_price == Decimal("1234")


def test_dutch_csv_reads_grouped_decimal(database):
    _import(database, ImportKind.PRODUCTS, DUTCH_CSV)

    assert _product(database, "00125").list_price == Decimal("1234.50")


def test_dutch_csv_keeps_sku_with_leading_zeros(database):
    _import(database, ImportKind.PRODUCTS, DUTCH_CSV)

    product = _product(database, "00123")
    assert product is not None
    assert product.name == "Crème brûlée vorm"
    assert product.ean == "8712345678906"


def test_imported_product_is_searchable(database):
    _import(database, ImportKind.PRODUCTS, DUTCH_CSV)

    assert _product(database, "00123").search_text == "00123 8712345678906 creme brulee vorm"


def test_imported_flags_and_quantities(database):
    _import(database, ImportKind.PRODUCTS, DUTCH_CSV)

    product = _product(database, "00125")
    assert product.active is False
    assert product.order_multiple == 12
    assert product.unit == "doos"


def test_second_product_import_changes_nothing(database):
    first = _import(database, ImportKind.PRODUCTS, DUTCH_CSV)

    second = _import(database, ImportKind.PRODUCTS, DUTCH_CSV)

    assert (first.created, first.updated) == (3, 0)
    assert (second.created, second.updated, second.unchanged) == (0, 0, 3)
    assert _count(database, Product) == 3


def test_reimport_updates_changed_values(database):
    _import(database, ImportKind.PRODUCTS, DUTCH_CSV)
    changed = DUTCH_CSV.replace(b";4,20;", b";4,35;")

    result = _import(database, ImportKind.PRODUCTS, changed)

    assert (result.created, result.updated, result.unchanged) == (0, 1, 2)
    assert _product(database, "00123").list_price == Decimal("4.35")


def test_empty_cell_keeps_current_value(database):
    _import(database, ImportKind.PRODUCTS, DUTCH_CSV)

    _import(database, ImportKind.PRODUCTS, b"Artikelnummer;Prijs;Productgroep\n00123;5,00;\n")

    product = _product(database, "00123")
    assert product.list_price == Decimal("5.00")
    assert product.product_group == "Keuken"


def test_bad_rows_import_nothing(database):
    with pytest.raises(Problems):
        _import(database, ImportKind.PRODUCTS, BAD_ROWS_CSV)

    assert _count(database, Product) == 0


def test_bad_rows_reported_by_line_and_field(database):
    with pytest.raises(Problems) as caught:
        _import(database, ImportKind.PRODUCTS, BAD_ROWS_CSV)

    assert _problems(caught.value) == [
        (3, "ean", "product.ean_check_digit"),
        (4, "list_price", "product.price_negative"),
        (5, "list_price", "product.price_too_precise"),
        (6, "name", "product.required_for_new"),
        (7, "vat_rate", "product.vat_unknown"),
        (8, "min_quantity", "product.quantity_not_whole"),
        (9, "order_multiple", "product.quantity_too_small"),
        (10, "sku", "product.sku_twice"),
    ]


def test_preview_marks_bad_rows_and_blocks_import(database):
    parsed = read_import(ImportKind.PRODUCTS, "bad.csv", BAD_ROWS_CSV)

    with database.read() as session:
        preview = preview_import(session, parsed)

    assert preview.can_apply is False
    assert preview.count("error") == 8
    assert preview.count("new") == 1


def test_preview_changes_nothing(database):
    parsed = read_import(ImportKind.PRODUCTS, "ok.csv", DUTCH_CSV)

    with database.read() as session:
        preview = preview_import(session, parsed)

    assert preview.count("new") == 3
    assert _count(database, Product) == 0


def test_import_rechecks_against_current_database(database):
    parsed = read_import(ImportKind.PRODUCTS, "ok.csv", b"sku;naam;prijs;btw\nN1;Nieuw;1,00;9\n")
    with database.read() as session:
        assert preview_import(session, parsed).can_apply
    with database.write() as session:
        load_settings(session).vat_rates = "21,0"

    with pytest.raises(Problems) as caught, database.write() as session:
        imports.apply_import(session, parsed, None)

    assert _problems(caught.value) == [(2, "vat_rate", "product.vat_unknown")]
    assert _count(database, Product) == 0


def test_html_in_name_is_stored_as_text(database):
    _import(database, ImportKind.PRODUCTS, b"sku;naam;prijs\nX1;<script>alert(1)</script>;1,00\n")

    assert _product(database, "X1").name == "<script>alert(1)</script>"


def test_excel_import_keeps_codes_as_text(database):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Artikelnummer", "EAN", "Naam", "Prijs"])
    sheet.append(["00456", 8712345678906, "Bal", 4.2])
    sheet.append([123, None, "Vaas", 12])
    buffer = io.BytesIO()
    workbook.save(buffer)

    _import(database, ImportKind.PRODUCTS, buffer.getvalue(), "lijst.xlsx")

    assert _product(database, "00123").list_price == Decimal("12")
    assert _product(database, "00456").ean == "8712345678906"


# --- Prices ----------------------------------------------------------------------------

PRICES_CSV = b"Prijslijst;Artikelnummer;Vanaf aantal;Prijs\nGroothandel;A1;1;3,95\nGroothandel;A1;10;3,50\n"


@pytest.fixture
def two_products(database):
    with database.write() as session:
        make_product(session, sku="A1", name="Bal", price="4.00", on_hand=10)
        make_product(session, sku="A2", name="Vaas", price="9.00", on_hand=0)


def test_price_import_creates_missing_price_list(database, two_products):
    result = _import(database, ImportKind.PRICES, PRICES_CSV)

    assert result.price_lists_created == 1
    assert _count(database, PriceList) == 1
    assert _count(database, PriceListItem) == 2


def test_second_price_import_changes_nothing(database, two_products):
    _import(database, ImportKind.PRICES, PRICES_CSV)

    second = _import(database, ImportKind.PRICES, PRICES_CSV)

    assert (second.created, second.updated, second.unchanged) == (0, 0, 2)
    assert _count(database, PriceListItem) == 2
    assert _count(database, PriceList) == 1


def test_price_import_matches_list_name_regardless_of_case(database, two_products):
    _import(database, ImportKind.PRICES, PRICES_CSV)

    result = _import(database, ImportKind.PRICES, b"prijslijst;sku;vanaf;prijs\ngroothandel;A1;10;3,40\n")

    assert (result.created, result.updated, result.price_lists_created) == (0, 1, 0)


def test_price_import_is_recorded_in_audit_log(database, two_products):
    _import(database, ImportKind.PRICES, PRICES_CSV, "prijzen.csv")
    _import(database, ImportKind.PRICES, PRICES_CSV, "prijzen.csv")

    with database.read() as session:
        events = [(event.action, event.object_id) for event in session.scalars(select(AuditEvent))]
    assert events == [("prices_imported", "prijzen.csv")], "an import that changes nothing is not recorded"


def test_product_import_names_file_in_audit_log(database):
    _import(database, ImportKind.PRODUCTS, DUTCH_CSV, "leverancier.csv")

    with database.read() as session:
        detail = session.scalar(select(AuditEvent.detail).where(AuditEvent.action == "products_saved"))
    assert detail.startswith("import leverancier.csv: 3 new, 0 changed: 00123 (new)")


def test_price_import_rejects_unknown_sku(database, two_products):
    with pytest.raises(Problems) as caught:
        _import(database, ImportKind.PRICES, PRICES_CSV + b"Groothandel;NOPE;1;1,00\n")

    assert _problems(caught.value) == [(4, "sku", "import.sku_unknown")]
    assert _count(database, PriceList) == 0


# --- Stock -----------------------------------------------------------------------------

STOCK_CSV = b"Artikelnummer;Voorraad\nA1;1.250\nA2;0\n"


def test_stock_import_books_corrections(database, two_products):
    result = _import(database, ImportKind.STOCK, STOCK_CSV, "telling.csv")

    with database.read() as session:
        movement = session.scalar(select(StockMovement))
        violations = check_invariants(session)
    assert (result.updated, result.unchanged) == (1, 1)
    assert _product(database, "A1").on_hand == 1250
    assert movement.kind is MovementKind.CORRECTION
    assert movement.reference == "import telling.csv"
    assert violations == []


def test_stock_import_twice_books_once(database, two_products):
    _import(database, ImportKind.STOCK, STOCK_CSV)

    _import(database, ImportKind.STOCK, STOCK_CSV)

    assert _count(database, StockMovement) == 1


def test_stock_import_rejects_negative_and_fractional_counts(database, two_products):
    with pytest.raises(Problems) as caught:
        _import(database, ImportKind.STOCK, b"sku;voorraad\nA1;-3\nA2;2,5\n")

    assert _problems(caught.value) == [
        (2, "stock", "product.quantity_too_small"),
        (3, "stock", "product.quantity_not_whole"),
    ]
    assert _count(database, StockMovement) == 0


# --- Export ----------------------------------------------------------------------------


@pytest.mark.parametrize("file_format", list(FileFormat))
@pytest.mark.parametrize("language", ["nl", "en"])
@pytest.mark.parametrize("kind", list(ImportKind))
def test_export_imports_again_unchanged(database, two_products, kind, language, file_format):
    _import(database, ImportKind.PRICES, PRICES_CSV)
    with database.write() as session:
        make_product(session, sku="007", name='=HYPERLINK("x")', price="0.125", ean="8712345678906")

    with database.snapshot() as session:
        data = imports.export_file(session, kind, file_format, language)
        preview = preview_import(session, read_import(kind, f"export.{file_format}", data))

    assert preview.problems == []
    assert {row.status for row in preview.rows} == {"unchanged"}


def test_csv_export_neutralises_formulas(database):
    with database.write() as session:
        make_product(session, sku="F1", name="=cmd|' /C calc'!A0", price="1.00")
        make_product(session, sku="F2", name="@SUM(1)", price="1.00")

    with database.snapshot() as session:
        text = imports.export_file(session, ImportKind.PRODUCTS, FileFormat.CSV, "nl").decode("utf-8-sig")

    assert ";'=cmd|' /C calc'!A0;" in text
    assert ";'@SUM(1);" in text


def test_csv_export_uses_dutch_conventions(database):
    with database.write() as session:
        make_product(session, sku="00123", name="Bal", price="1234.5")

    with database.snapshot() as session:
        text = imports.export_file(session, ImportKind.PRODUCTS, FileFormat.CSV, "nl").decode("utf-8-sig")

    assert text.splitlines()[1] == "00123;;Bal;;;1234,50;21;pcs;1;1;ja"


def test_xlsx_export_stores_formulas_as_text(database):
    with database.write() as session:
        make_product(session, sku="00123", name="=1+1", price="1.00")

    with database.snapshot() as session:
        data = imports.export_file(session, ImportKind.PRODUCTS, FileFormat.XLSX, "en")
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active

    assert sheet["C2"].value == "=1+1"
    assert sheet["C2"].data_type == "s"
    assert sheet["A2"].value == "00123"


def test_unreadable_file_raises_before_touching_database(database):
    with pytest.raises(PortalError) as caught:
        _import(database, ImportKind.PRODUCTS, b"\x00\x01binary", "data.csv")

    assert caught.value.code == "import.not_csv_or_excel"

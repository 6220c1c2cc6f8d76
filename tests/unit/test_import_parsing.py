import datetime as dt
import io
import re
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from portal import imports, products
from portal.errors import PortalError
from portal.i18n import LANGUAGES, catalog
from portal.imports import FileFormat, ImportKind, read_import
from portal.products import (
    check_ean,
    detect_decimal_mark,
    number_shape,
    parse_active,
    parse_decimal,
    parse_price,
    parse_vat_rate,
    parse_whole,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "imports"
ROOT = Path(__file__).resolve().parents[2]


def _rows_by_sku(parsed):
    return {row.sku: row for row in parsed.rows}


def _xlsx(rows, percent_column=None):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    if percent_column is not None:
        for cells in sheet.iter_rows(min_row=2, min_col=percent_column, max_col=percent_column):
            cells[0].number_format = "0%"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _code(call):
    with pytest.raises(PortalError) as caught:
        call()
    return caught.value.code


# --- Numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "decimal_mark", "expected"),
    [
        ("4,20", ",", "4.20"),
        ("4,20", ".", "4.20"),
        ("1.234", ",", "1234"),
        ("1.234", ".", "1.234"),
        ("1,234", ".", "1234"),
        ("1,234", ",", "1.234"),
        ("1.234,50", ".", "1234.50"),
        ("1,234.50", ",", "1234.50"),
        ("1234,5", ",", "1234.5"),
        ("1.234.567", ".", "1234567"),
        ("0,125", ".", "0.125"),
        (" € 12,50 ", ",", "12.50"),
        ("1 234,50", ",", "1234.50"),
        ("-3,5", ",", "-3.5"),
        (",5", ",", "0.5"),
    ],
)
def test_parse_decimal_reads_dutch_and_english_numbers(text, decimal_mark, expected):
    assert parse_decimal(text, decimal_mark) == Decimal(expected)


@pytest.mark.parametrize("text", ["abc", "1,2,3", "1.23.4", "1.234,5.6", "12,", "1e5", "--1", "1,234,56"])
def test_parse_decimal_rejects_malformed_numbers(text):
    assert _code(lambda: parse_decimal(text)) == "product.number_invalid"


def test_parse_decimal_treats_empty_as_missing():
    assert parse_decimal("  ") is None


def test_spreadsheet_float_becomes_shown_decimal():
    assert parse_decimal(0.1 + 0.2) == Decimal("0.3")


@pytest.mark.parametrize(
    ("text", "shape"),
    [
        ("4,20", "decimal_comma"),
        ("4.20", "decimal_point"),
        ("1.234", "ambiguous_point"),
        ("1,234", "ambiguous_comma"),
        ("1.234.567", "grouped_point"),
        ("1,234.5", "decimal_point"),
        ("12", "integer"),
    ],
)
def test_number_shape_tells_unambiguous_from_ambiguous(text, shape):
    assert number_shape(text) == shape


def test_decimal_mark_follows_unambiguous_cells():
    assert detect_decimal_mark(["4,20", "1.234", "12"]) == ","


def test_decimal_mark_point_when_cells_use_points():
    assert detect_decimal_mark(["4.20", "1,234"]) == "."


def test_decimal_mark_default_without_clue():
    assert detect_decimal_mark(["1.234", "12"]) == ","


def test_price_with_trailing_zeros_is_not_too_precise():
    assert parse_price("4,20000") == Decimal("4.2")


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("1,23456", "product.price_too_precise"),
        ("-1", "product.price_negative"),
        ("100000000", "product.price_too_large"),
        ("abc", "product.number_invalid"),
    ],
)
def test_parse_price_rejects(text, code):
    assert _code(lambda: parse_price(text)) == code


def test_parse_whole_accepts_whole_decimal():
    assert parse_whole("12,0") == 12


def test_parse_whole_reads_thousands_dot():
    assert parse_whole("1.234") == 1234


@pytest.mark.parametrize(
    ("text", "minimum", "code"),
    [
        ("1,5", 1, "product.quantity_not_whole"),
        ("0", 1, "product.quantity_too_small"),
        ("-1", 0, "product.quantity_too_small"),
        ("5000000", 1, "product.quantity_too_large"),
    ],
)
def test_parse_whole_rejects(text, minimum, code):
    assert _code(lambda: parse_whole(text, ",", minimum)) == code


def test_stock_level_may_be_zero():
    assert parse_whole("0", ",", minimum=0) == 0


@pytest.mark.parametrize(("text", "expected"), [("21%", "21"), ("9,0", "9"), ("0", "0")])
def test_vat_rate_accepts_allowed_rates(text, expected):
    assert parse_vat_rate(text, [Decimal(21), Decimal(9), Decimal(0)]) == Decimal(expected)


def test_vat_rate_rejects_unknown_rate():
    assert _code(lambda: parse_vat_rate("19", [Decimal(21), Decimal(9)])) == "product.vat_unknown"


@pytest.mark.parametrize(("text", "expected"), [("ja", True), ("Nee", False), ("yes", True), ("0", False), ("x", True)])
def test_active_words(text, expected):
    assert parse_active(text) is expected


def test_active_rejects_other_words():
    assert _code(lambda: parse_active("misschien")) == "product.active_invalid"


# --- EAN -------------------------------------------------------------------------------


@pytest.mark.parametrize("ean", ["8712345678906", "96385074", "040063813339", "04006381333931"])
def test_valid_ean_is_kept(ean):
    assert check_ean(ean) == ean


@pytest.mark.parametrize(
    ("ean", "code"),
    [
        ("8712345678907", "product.ean_check_digit"),
        ("87123456789", "product.ean_length"),
        ("87123A5678906", "product.ean_not_digits"),
        ("8,71235E+12", "product.scientific_notation"),
    ],
)
def test_invalid_ean_is_rejected(ean, code):
    assert _code(lambda: check_ean(ean)) == code


def test_wrong_check_digit_names_expected_digit():
    with pytest.raises(PortalError) as caught:
        check_ean("8712345678907")

    assert caught.value.params["expected"] == 6


def test_sku_with_characters_outside_links_is_rejected():
    assert _code(lambda: products.check_sku("AB#1")) == "product.sku_invalid"


# --- Reading files ---------------------------------------------------------------------


def test_dutch_windows_1252_csv_is_read():
    parsed = read_import(ImportKind.PRODUCTS, "leverancier.csv", (DATA / "products_nl_windows1252.csv").read_bytes())

    assert parsed.problems == []
    assert parsed.info.encoding == "Windows-1252"
    assert parsed.info.delimiter == ";"
    assert parsed.info.decimal_mark == ","
    assert _rows_by_sku(parsed)["00123"].name == "Crème brûlée vorm"


def test_dutch_csv_keeps_sku_leading_zeros():
    parsed = read_import(ImportKind.PRODUCTS, "leverancier.csv", (DATA / "products_nl_windows1252.csv").read_bytes())

    assert [row.sku for row in parsed.rows] == ["00123", "00124", "00125"]


def test_dutch_csv_maps_dutch_headers():
    parsed = read_import(ImportKind.PRODUCTS, "leverancier.csv", (DATA / "products_nl_windows1252.csv").read_bytes())

    assert parsed.info.columns["Omschrijving"] == "name"
    assert parsed.info.columns["BTW %"] == "vat_rate"
    assert parsed.info.columns["Min. aantal"] == "min_quantity"


def test_utf8_bom_csv_is_read():
    parsed = read_import(ImportKind.PRODUCTS, "supplier.csv", (DATA / "products_en_utf8_bom.csv").read_bytes())

    assert parsed.info.encoding == "UTF-8 (BOM)"
    assert parsed.info.columns["SKU"] == "sku"
    assert parsed.info.decimal_mark == "."
    assert _rows_by_sku(parsed)["00123"].name == "Crème brûlée dish"


def test_comma_csv_without_clue_uses_decimal_point():
    parsed = read_import(ImportKind.STOCK, "count.csv", b"sku,stock\nA1,12\n")

    assert parsed.info.decimal_mark == "."


def test_excel_sep_line_sets_separator():
    parsed = read_import(ImportKind.STOCK, "count.csv", b"sep=;\nsku;voorraad\nA1;12\n")

    assert parsed.info.delimiter == ";"
    assert parsed.rows[0].row == 3


def test_line_numbers_follow_the_file():
    data = b'sku;naam;prijs\n\nA1;"two\nlines";1,00\nA2;plain;2,00\n'

    parsed = read_import(ImportKind.PRODUCTS, "lines.csv", data)

    assert [row.row for row in parsed.rows] == [3, 5]


def test_apostrophe_before_formula_character_is_removed():
    parsed = read_import(ImportKind.PRODUCTS, "x.csv", b"sku;naam\nA1;'=SUM(1)\n")

    assert parsed.rows[0].name == "=SUM(1)"


def test_omschrijving_is_description_when_name_column_exists():
    parsed = read_import(ImportKind.PRODUCTS, "x.csv", b"Omschrijving;Artikelnummer;Naam\nlang;A1;kort\n")

    assert parsed.info.columns == {"Omschrijving": "description", "Artikelnummer": "sku", "Naam": "name"}


def test_unknown_columns_are_listed():
    parsed = read_import(ImportKind.PRODUCTS, "x.csv", b"sku;naam;kleur\nA1;Bal;rood\n")

    assert parsed.info.ignored_columns == ["kleur"]


def test_same_column_twice_is_a_problem():
    parsed = read_import(ImportKind.PRODUCTS, "x.csv", b"sku;prijs;verkoopprijs\nA1;1;2\n")

    assert [(problem.row, problem.code) for problem in parsed.problems] == [(1, "import.column_twice")]


def test_missing_required_column_is_a_problem_on_header_line():
    parsed = read_import(ImportKind.PRICES, "x.csv", b"\nprijslijst;prijs\nA;1\n")

    assert [(problem.row, problem.field) for problem in parsed.problems] == [(2, "sku")]


def test_excel_numbers_become_text_codes_with_zeros():
    data = _xlsx(
        [
            ["Artikelnummer", "EAN", "Naam", "Prijs", "Btw"],
            ["00456", 8712345678906, "Bal", 4.2, 0.21],
            [123, 8712345678913, "Vaas", 1234.5, 0.09],
            ["00789", None, "Mand", 3, 0.21],
        ],
        percent_column=5,
    )

    parsed = read_import(ImportKind.PRODUCTS, "lijst.xlsx", data)

    assert [row.sku for row in parsed.rows] == ["00456", "00123", "00789"]
    assert parsed.rows[0].ean == "8712345678906"
    assert parsed.rows[1].list_price == Decimal("1234.5")
    assert parsed.rows[0].vat_rate == Decimal("21")


def test_excel_numbers_padded_when_most_share_a_length():
    data = _xlsx([["sku", "naam"], *([sku, "A"] for sku in (10001, 10002, 10003, 10004, 10005)), [123, "B"]])

    parsed = read_import(ImportKind.PRODUCTS, "lijst.xlsx", data)

    assert parsed.rows[-1].sku == "00123"


def test_excel_numbers_of_varying_length_are_not_padded():
    data = _xlsx([["sku", "naam"], [12345, "A"], [123, "B"], [1234, "C"]])

    parsed = read_import(ImportKind.PRODUCTS, "lijst.xlsx", data)

    assert [row.sku for row in parsed.rows] == ["12345", "123", "1234"]


def test_excel_line_numbers_are_row_numbers():
    data = _xlsx([["sku", "voorraad"], [None, None], ["A1", 5]])

    parsed = read_import(ImportKind.STOCK, "telling.xlsx", data)

    assert parsed.rows[0].row == 3


@pytest.mark.parametrize(
    ("filename", "data", "code"),
    [
        ("report.pdf", b"%PDF-1.4 binary", "import.not_csv_or_excel"),
        ("photo.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00", "import.not_csv_or_excel"),
        ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "import.xls_not_supported"),
        ("broken.xlsx", b"PK\x03\x04 not really a zip", "import.excel_invalid"),
        ("renamed.xlsx", b"sku;naam\nA1;Bal\n", "import.excel_invalid"),
        ("empty.csv", b"  \n", "import.file_empty"),
        ("header.csv", b"sku;naam\n", "import.no_rows"),
    ],
)
def test_unusable_files_are_rejected(filename, data, code):
    assert _code(lambda: read_import(ImportKind.PRODUCTS, filename, data)) == code


def test_fifty_megabyte_upload_is_rejected():
    data = b"sku;naam\n" + b"A" * (50 * 1024 * 1024)

    with pytest.raises(PortalError) as caught:
        read_import(ImportKind.PRODUCTS, "huge.csv", data)

    assert caught.value.code == "import.file_too_large"
    assert caught.value.params["maximum"] == imports.MAX_UPLOAD_BYTES // (1024 * 1024)


def test_upload_limit_is_below_fifty_megabytes():
    assert imports.MAX_UPLOAD_BYTES < 50 * 1024 * 1024


# --- Export cells ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("=1+1", "'=1+1"), ("+31 6", "'+31 6"), ("-5", "'-5"), ("@SUM(A1)", "'@SUM(A1)"), ("Bal", "Bal")],
)
def test_formula_characters_are_neutralised(text, expected):
    assert imports.neutralise_formula(text) == expected


@pytest.mark.parametrize(
    ("amount", "expected"),
    [("4.2", "4,20"), ("0.125", "0,1250"), ("1234.5", "1234,50"), ("7", "7,00"), ("0.1234", "0,1234")],
)
def test_money_text_never_has_three_decimals(amount, expected):
    assert imports.money_text(Decimal(amount), ",") == expected


def test_export_filename_is_translated():
    name = imports.export_filename(ImportKind.PRODUCTS, FileFormat.CSV, "nl", dt.date(2026, 7, 1))

    assert name == "artikelen-2026-07-01.csv"


# --- Texts -----------------------------------------------------------------------------


def _codes_in(path: Path) -> set[str]:
    source = path.read_text()
    return set(re.findall(r"""["']((?:product|import)\.[a-z_]+)["']""", source))


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_code_is_translated(language):
    codes = _codes_in(ROOT / "portal" / "products.py") | _codes_in(ROOT / "portal" / "imports.py")

    assert codes, "the pattern found no codes; the test is broken"
    assert sorted(codes - set(catalog(language))) == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_column_has_a_label(language):
    names = {name for columns in imports.COLUMNS.values() for name in columns}

    missing = sorted(name for name in names if f"import.field_{name}" not in catalog(language))

    assert missing == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_export_headers_are_read_back(language):
    for kind, columns in imports.COLUMNS.items():
        header = imports.SourceRow(1, [imports.Cell(imports.field_label(language, name)) for name in columns])

        _, _, names, problems = imports.map_columns(kind, header)

        assert problems == []
        assert list(names.values()) == list(columns)

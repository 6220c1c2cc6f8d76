import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import pytest

from portal.i18n import LANGUAGES, Formatter, catalog, normalize_language, translate

PLACEHOLDER = re.compile(r"\{(\w+)\}")
SOURCE_DIRS = [Path(__file__).resolve().parents[2] / name for name in ("portal", "app_pages")]


def test_catalogs_have_the_same_keys():
    english, dutch = set(catalog("en")), set(catalog("nl"))

    assert english - dutch == set(), "keys missing in nl.toml"
    assert dutch - english == set(), "keys missing in en.toml"


@pytest.mark.parametrize("key", sorted(catalog("en")))
def test_translations_use_the_same_placeholders(key):
    assert set(PLACEHOLDER.findall(catalog("en")[key])) == set(PLACEHOLDER.findall(catalog("nl")[key]))


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_translation_is_empty(language):
    empty = [key for key, text in catalog(language).items() if not text.strip()]

    assert empty == []


def test_every_literal_key_in_code_exists():
    # Keys written out as t("section.name") in the code; keys built at run time from an
    # enum value (order.status_*, stock.*) are covered by their own tests.
    pattern = re.compile(r"""\bt\(\s*["']([a-z_]+\.[a-z_]+)["']""")
    files = [Path(__file__).resolve().parents[2] / "Home.py"]
    files += [path for folder in SOURCE_DIRS for path in folder.rglob("*.py")]
    used = {key for path in files for key in pattern.findall(path.read_text())}

    missing = sorted(used - set(catalog("en")))

    assert used, "the pattern found no keys; the test is broken"
    assert missing == []


@pytest.mark.parametrize("status", ["new", "accepted", "completed", "cancelled"])
def test_order_statuses_are_translated(status):
    assert f"order.status_{status}" in catalog("en")


def test_missing_key_returns_key():
    assert translate("en", "no.such_key") == "no.such_key"


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("nl-NL", "nl"),
        ("nl-BE", "nl"),
        ("nl", "nl"),
        ("NL_be", "nl"),
        ("en-US", "en"),
        ("fr-BE", "en"),
        (None, "en"),
        ("", "en"),
    ],
)
def test_browser_language_maps_to_dutch_or_english(tag, expected):
    assert normalize_language(tag) == expected


def test_money_follows_dutch_locale():
    assert Formatter("nl").money(Decimal("1234.56")) == "€\u00a01.234,56"


def test_money_follows_english_locale():
    assert Formatter("en").money(Decimal("1234.56")) == "€1,234.56"


def test_unit_price_keeps_four_decimals_when_present():
    assert Formatter("nl").unit_price(Decimal("0.1250")) == "€\u00a00,125"
    assert Formatter("en").unit_price(Decimal("2.5500")) == "€2.55"


def test_datetime_shown_in_amsterdam_time():
    moment = dt.datetime(2026, 7, 1, 10, 0, tzinfo=dt.UTC)

    assert "12:00" in Formatter("nl").datetime(moment)


def test_date_uses_dutch_month_names():
    assert "jul" in Formatter("nl").date(dt.date(2026, 7, 1))


@pytest.mark.parametrize("language", ["xx", "../locales/nl", "", "NL"])
def test_catalog_rejects_unknown_language(language):
    with pytest.raises(ValueError):
        catalog(language)

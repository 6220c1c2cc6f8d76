"""Dutch and English texts, and locale formats for numbers, money and dates."""

from __future__ import annotations

import datetime as dt
import logging
import tomllib
from decimal import Decimal
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date
from babel.numbers import NumberPattern, format_currency, format_decimal, parse_pattern

log = logging.getLogger(__name__)

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
LANGUAGES = ("nl", "en")
DEFAULT_LANGUAGE = "en"
# Babel locale per interface language: Dutch formats as in the Netherlands (€ 1.234,56),
# English as in the UK (€1,234.56), both with the supplier's currency.
BABEL_LOCALES = {"nl": "nl_NL", "en": "en_GB"}


def _flatten(table: dict[str, object], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = str(value)
    return flat


@cache
def catalog(language: str) -> dict[str, str]:
    """Return the message catalog of a language as a flat key-to-text mapping.

    A language's texts are split over the TOML files in locales/<language>/, one per
    area of the portal; a key defined in two files is an error.
    """
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}; expected one of {', '.join(LANGUAGES)}")
    merged: dict[str, str] = {}
    for path in sorted((LOCALES_DIR / language).glob("*.toml")):
        with path.open("rb") as handle:
            texts = _flatten(tomllib.load(handle))
        duplicates = merged.keys() & texts.keys()
        if duplicates:
            raise ValueError(f"{path} defines keys that another catalog file has: {sorted(duplicates)}")
        merged.update(texts)
    return merged


def normalize_language(language: str | None) -> str:
    """Map a browser or stored language tag to nl or en: Dutch for nl*, English otherwise."""
    if language and language.strip().lower().replace("_", "-").startswith("nl"):
        return "nl"
    return "en"


def translate(language: str, key: str, **params: object) -> str:
    """Return the text for key in the language, with params filled in.

    A key missing from the catalogs returns the key itself and logs an error, so a
    gap shows up on the page and in the log instead of breaking it.
    """
    text = catalog(language).get(key) or catalog(DEFAULT_LANGUAGE).get(key)
    if text is None:
        log.error("Missing translation key %s", key)
        return key
    if not params:
        return text
    try:
        return text.format(**params)
    except (KeyError, IndexError, ValueError):
        log.exception("Translation %s (%s) does not fit params %s", key, language, sorted(params))
        return text


@cache
def _babel_locale(language: str) -> Locale:
    # Babel parses a locale given by name on every call, which took about a third of a
    # format_currency call.
    return Locale.parse(BABEL_LOCALES[language])


@cache
def _unit_price_pattern(language: str, decimals: int) -> NumberPattern:
    """Return the language's currency pattern with `decimals` decimals.

    Dutch puts a non-breaking space between sign and amount, English none.
    """
    separator = "\u00a0" if language == "nl" else ""
    return parse_pattern(f"¤{separator}#,##0.{'0' * decimals}")


class Formatter:
    """Formats money, numbers and times for one language and the supplier's settings."""

    def __init__(self, language: str, currency: str = "EUR", time_zone: str = "Europe/Amsterdam") -> None:
        self.language = language
        self.locale = _babel_locale(language)
        self.currency = currency
        self.zone = ZoneInfo(time_zone)

    def t(self, key: str, **params: object) -> str:
        return translate(self.language, key, **params)

    def money(self, amount: Decimal) -> str:
        return format_currency(amount, self.currency, locale=self.locale)

    def unit_price(self, amount: Decimal) -> str:
        """Format a unit price with two decimals, or up to four where it has them."""
        exponent = amount.normalize().as_tuple().exponent
        decimals = max(2, min(4, -exponent if isinstance(exponent, int) and exponent < 0 else 0))
        # What format_currency does with a format string, without parsing it on every call.
        pattern = _unit_price_pattern(self.language, decimals)
        return pattern.apply(amount, self.locale, currency=self.currency, currency_digits=False)

    def number(self, value: int | Decimal) -> str:
        return format_decimal(value, locale=self.locale)

    def percent(self, rate: Decimal) -> str:
        return f"{format_decimal(rate.normalize(), locale=self.locale)} %"

    def date(self, value: dt.date | dt.datetime) -> str:
        if isinstance(value, dt.datetime):
            value = value.astimezone(self.zone).date()
        return format_date(value, format="medium", locale=self.locale)

    def datetime(self, value: dt.datetime) -> str:
        """Format a moment as date and time in the supplier's time zone, to the minute."""
        local = value.astimezone(self.zone)
        return f"{format_date(local.date(), format='medium', locale=self.locale)} {local:%H:%M}"

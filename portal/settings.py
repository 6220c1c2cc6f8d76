"""The supplier's portal-wide settings."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.numbers import list_currencies
from PIL import Image, UnidentifiedImageError
from sqlalchemy.orm import Session

from portal import audit
from portal.errors import PortalError, Problems
from portal.models import StockDisplay, SupplierSettings

log = logging.getLogger(__name__)


def load_settings(session: Session) -> SupplierSettings:
    settings = session.get(SupplierSettings, 1)
    if settings is None:
        raise RuntimeError("supplier_settings row 1 is missing; start the app once or run `python -m portal migrate`")
    return settings


def greeting(session: Session, language: str) -> tuple[str, str]:
    """Return the portal name and the greeting Markdown in the language, else the other one."""
    settings = load_settings(session)
    text = settings.greeting_nl if language == "nl" else settings.greeting_en
    fallback = settings.greeting_en if language == "nl" else settings.greeting_nl
    return settings.portal_name, text or fallback


MAX_GREETING_LENGTH = 20_000
MAX_LOGO_BYTES = 2_000_000
LOGO_MAX_SIDE = 600


@dataclass(frozen=True)
class SettingsInput:
    portal_name: str
    greeting_en: str
    greeting_nl: str
    stock_display: str
    low_stock_threshold: str
    vat_rates: str
    currency: str
    time_zone: str


def parse_vat_rates(text: str) -> list[Decimal]:
    """Parse "21, 9, 0" into rates; raise PortalError naming the bad rate."""
    rates = []
    for part in text.replace(";", ",").split(","):
        part = part.strip().replace("%", "").strip()
        if not part:
            continue
        try:
            rate = Decimal(part.replace(",", "."))
        except InvalidOperation:
            raise PortalError("settings.vat_rate_invalid", value=part) from None
        if not rate.is_finite() or rate < 0 or rate > 100 or rate.as_tuple().exponent < -2:
            raise PortalError("settings.vat_rate_invalid", value=part)
        rates.append(rate.normalize() if rate else Decimal(0))
    if not rates:
        raise PortalError("settings.vat_rates_missing")
    return rates


def allowed_vat_rates(session: Session) -> list[Decimal]:
    return parse_vat_rates(load_settings(session).vat_rates)


def update_settings(session: Session, values: SettingsInput, admin_id: int | None = None) -> None:
    """Validate every field and save them all, or raise Problems naming each bad field."""
    problems: list[PortalError] = []
    name = values.portal_name.strip()
    if not name or len(name) > 200:
        problems.append(PortalError("settings.name_invalid", maximum=200))
    for greeting in (values.greeting_en, values.greeting_nl):
        if len(greeting) > MAX_GREETING_LENGTH:
            problems.append(PortalError("settings.greeting_too_long", maximum=MAX_GREETING_LENGTH))
    if values.stock_display not in {mode.value for mode in StockDisplay}:
        problems.append(PortalError("settings.stock_display_invalid"))
    threshold = values.low_stock_threshold.strip()
    if not threshold.isdigit() or int(threshold) > 1_000_000:
        problems.append(PortalError("settings.threshold_invalid", value=threshold))
    try:
        rates = parse_vat_rates(values.vat_rates)
    except PortalError as error:
        problems.append(error)
        rates = []
    currency = values.currency.strip().upper()
    if currency not in list_currencies():
        problems.append(PortalError("settings.currency_invalid", value=currency))
    try:
        ZoneInfo(values.time_zone.strip())
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(PortalError("settings.time_zone_invalid", value=values.time_zone.strip()))
    if problems:
        raise Problems(problems)

    settings = load_settings(session)
    settings.portal_name = name
    settings.greeting_en = values.greeting_en
    settings.greeting_nl = values.greeting_nl
    settings.stock_display = StockDisplay(values.stock_display)
    settings.low_stock_threshold = int(threshold)
    settings.vat_rates = ",".join(str(rate) for rate in rates)
    settings.currency = currency
    settings.time_zone = values.time_zone.strip()
    audit.record(session, "settings_changed", actor_id=admin_id, object_type="settings", object_id=1)
    log.info("Supplier settings updated")


def store_logo(session: Session, data: bytes, admin_id: int | None = None) -> None:
    """Check an uploaded logo, shrink it and store it as PNG; raise PortalError for a bad file."""
    if len(data) > MAX_LOGO_BYTES:
        raise PortalError("settings.logo_too_large", maximum_mb=MAX_LOGO_BYTES // 1_000_000)
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
        with Image.open(io.BytesIO(data)) as image:
            image.thumbnail((LOGO_MAX_SIDE, LOGO_MAX_SIDE))
            output = io.BytesIO()
            image.convert("RGBA").save(output, format="PNG")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise PortalError("settings.logo_invalid") from None
    settings = load_settings(session)
    settings.logo = output.getvalue()
    settings.logo_content_type = "image/png"
    audit.record(session, "logo_changed", actor_id=admin_id, object_type="settings", object_id=1)


def remove_logo(session: Session, admin_id: int | None = None) -> None:
    settings = load_settings(session)
    settings.logo = None
    settings.logo_content_type = None
    audit.record(session, "logo_removed", actor_id=admin_id, object_type="settings", object_id=1)


def portal_identity(session: Session) -> tuple[str, bytes | None]:
    """Return the portal name and logo for the page header."""
    settings = load_settings(session)
    return settings.portal_name, settings.logo

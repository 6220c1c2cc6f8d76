import io
from decimal import Decimal

import pytest
from PIL import Image

from portal import settings as portal_settings
from portal.errors import PortalError, Problems
from portal.settings import SettingsInput


def _values(**changes):
    fields = {
        "portal_name": "Groothandel Jansen",
        "greeting_en": "Welcome",
        "greeting_nl": "Welkom",
        "stock_display": "exact",
        "low_stock_threshold": "5",
        "vat_rates": "21, 9, 0",
        "currency": "eur",
        "time_zone": "Europe/Brussels",
    }
    fields.update(changes)
    return SettingsInput(**fields)


def test_settings_saved(database):
    with database.write() as session:
        portal_settings.update_settings(session, _values())

    with database.read() as session:
        saved = portal_settings.load_settings(session)
        assert (saved.portal_name, saved.currency, saved.vat_rates) == ("Groothandel Jansen", "EUR", "21,9,0")
        assert portal_settings.allowed_vat_rates(session) == [Decimal("21"), Decimal("9"), Decimal("0")]


def test_every_bad_setting_reported(database):
    bad = _values(portal_name=" ", low_stock_threshold="-1", vat_rates="21,101", currency="EURO", time_zone="Mars/Base")

    with database.write() as session, pytest.raises(Problems) as raised:
        portal_settings.update_settings(session, bad)

    codes = sorted(problem.code for problem in raised.value.problems)
    assert codes == [
        "settings.currency_invalid",
        "settings.name_invalid",
        "settings.threshold_invalid",
        "settings.time_zone_invalid",
        "settings.vat_rate_invalid",
    ]


def test_logo_reencoded_as_png(database):
    buffer = io.BytesIO()
    Image.new("RGB", (1200, 300), "green").save(buffer, format="JPEG")

    with database.write() as session:
        portal_settings.store_logo(session, buffer.getvalue())

    with database.read() as session:
        logo = portal_settings.load_settings(session).logo
    with Image.open(io.BytesIO(logo)) as image:
        assert image.format == "PNG"
        assert max(image.size) <= portal_settings.LOGO_MAX_SIDE


def test_non_image_logo_rejected(database):
    with database.write() as session, pytest.raises(PortalError) as raised:
        portal_settings.store_logo(session, b"<svg onload=alert(1)></svg>")

    assert raised.value.code == "settings.logo_invalid"

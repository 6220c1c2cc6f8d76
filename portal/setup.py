"""First-start set-up: the settings row and, in demo mode, the demo data."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.db import Database
from portal.models import Product, StockDisplay, SupplierSettings

log = logging.getLogger(__name__)

DEFAULT_GREETING_EN = """## Welcome

Order from our range at your own prices, around the clock.

- **Products**: search by product code, EAN or name, and add what you need.
- **Current order**: check the quantities, choose the delivery address and place the order.
- **Orders** and **Backorders**: follow what is on its way.

Questions? Reply to your order confirmation or call your account manager.
"""

DEFAULT_GREETING_NL = """## Welkom

Bestel uit ons assortiment tegen uw eigen prijzen, dag en nacht.

- **Artikelen**: zoek op productcode, EAN of naam en voeg toe wat u nodig hebt.
- **Huidige bestelling**: controleer de aantallen, kies het afleveradres en plaats de bestelling.
- **Bestellingen** en **Backorders**: volg wat er onderweg is.

Vragen? Reageer op uw orderbevestiging of bel uw accountmanager.
"""


def ensure_settings(session: Session) -> SupplierSettings:
    """Create the settings row with defaults if the database has none yet."""
    settings = session.get(SupplierSettings, 1)
    if settings is None:
        settings = SupplierSettings(
            id=1,
            portal_name="Customer portal",
            greeting_en=DEFAULT_GREETING_EN,
            greeting_nl=DEFAULT_GREETING_NL,
            stock_display=StockDisplay.INDICATOR,
            low_stock_threshold=10,
            currency="EUR",
            time_zone="Europe/Amsterdam",
        )
        session.add(settings)
        session.flush()
    return settings


def load_demo_if_empty(database: Database) -> bool:
    """Load the demo data when the database has no products; return whether it did."""
    from portal.demo import load_demo_data

    with database.write() as session:
        if session.scalar(select(Product.id).limit(1)) is not None:
            return False
        load_demo_data(session)
    log.info("Loaded the demo data into the empty database")
    return True

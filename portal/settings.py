"""The supplier's portal-wide settings."""

from __future__ import annotations

from sqlalchemy.orm import Session

from portal.models import SupplierSettings


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

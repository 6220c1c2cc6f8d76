"""Start-up: configuration, the cached engine, migrations and demo data."""

from __future__ import annotations

import gc
import logging

import streamlit as st

from portal.config import Config, load_config
from portal.db import Database, create_portal_engine, migrate
from portal.settings import portal_identity
from portal.setup import ensure_settings, load_demo_if_empty

log = logging.getLogger(__name__)


@st.cache_resource
def get_config() -> Config:
    return load_config()


def _dispose(database: Database) -> None:
    database.engine.dispose()


@st.cache_resource(on_release=_dispose)
def get_database() -> Database:
    """Create the engine once per process and bring the database up to date.

    SQLite databases are migrated here, at start; PostgreSQL ones are migrated once per
    release with `python -m portal migrate`, not by every app process.
    """
    config = get_config()
    database = Database(create_portal_engine(config.database_url))
    if database.is_sqlite:
        migrate(database.engine)
    with database.write() as session:
        ensure_settings(session)
    if config.demo:
        load_demo_if_empty(database)
    log.info("Portal started on %s", database.engine.url.render_as_string(hide_password=True))
    freeze_startup_objects()
    return database


def freeze_startup_objects() -> None:
    """Move every object alive now out of the garbage collector's reach.

    Called once the first run has imported the portal's modules and created the engine.
    Those objects live as long as the process, but each full collection walks them all
    again, and Streamlit 1.67 runs one after every script run unless runner.postScriptGC
    is false. Frozen objects are never freed, so call this only after start-up.
    """
    gc.collect()
    gc.freeze()
    log.info("Froze %s objects alive after start-up", gc.get_freeze_count())


def portal_logo(database: Database) -> bytes | None:
    """Return the supplier's logo, stored as PNG in the settings, or None."""
    with database.read() as session:
        return portal_identity(session)[1]

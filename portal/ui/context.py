"""What every page needs for one run: the database, the user, the customer and the language."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st
from sqlalchemy.orm import Session
from streamlit.runtime.scriptrunner import get_script_run_ctx

from portal.catalog import CustomerContext, load_customer_context
from portal.config import Config
from portal.db import Database
from portal.errors import NotFound, PortalError, Problems
from portal.i18n import LANGUAGES, Formatter, normalize_language
from portal.settings import load_settings
from portal.text import escape_markdown
from portal.ui.app import get_config, get_database
from portal.ui.auth import CurrentUser, cookie_write_pending, resolve_user

REQUEST_KEY = "request"
FLASH_KEY = "flash"


@dataclass(frozen=True)
class Request:
    """The signed-in user and the customer whose data the pages show in this run."""

    user: CurrentUser
    language: str
    customer_id: int | None
    customer: CustomerContext | None
    currency: str
    time_zone: str


@dataclass
class PageContext:
    database: Database
    config: Config
    request: Request
    fmt: Formatter

    @property
    def user(self) -> CurrentUser:
        return self.request.user

    def t(self, key: str, **params: object) -> str:
        return self.fmt.t(key, **params)


def choose_language(user: CurrentUser | None) -> str:
    """Return the language picked in this session, else the user's, else the browser's."""
    picked = st.session_state.get("language")
    if picked in LANGUAGES:
        return picked
    if user is not None and user.language:
        return normalize_language(user.language)
    return normalize_language(st.context.locale)


def build_request(database: Database, user: CurrentUser, language: str) -> Request:
    """Resolve the customer for this run: the user's own, or the one an admin picked."""
    customer_id = user.customer_id
    if user.is_admin:
        customer_id = st.session_state.get("acting_customer_id")
    with database.read() as session:
        settings = load_settings(session)
        customer = None
        if customer_id is not None:
            try:
                customer = load_customer_context(session, customer_id)
            except NotFound:
                customer_id = None
        return Request(user, language, customer_id, customer, settings.currency, settings.time_zone)


def store_request(request: Request) -> None:
    st.session_state[REQUEST_KEY] = request


def page_context() -> PageContext:
    """Return the context Home.py stored for this run; pages only run behind its sign-in gate."""
    request: Request | None = st.session_state.get(REQUEST_KEY)
    if request is None:
        st.stop()
    return _context_for(request)


def _context_for(request: Request) -> PageContext:
    return PageContext(
        database=get_database(),
        config=get_config(),
        request=request,
        fmt=Formatter(request.language, request.currency, request.time_zone),
    )


def checked_page_context() -> PageContext:
    """Check the sign-in again and return the page context read afresh.

    For widget callbacks and fragment reruns: both run without Home.py's sign-in gate, so
    the stored context may contain a user signed out since, or a customer's old price list.
    A session that has ended gets a full rerun, which shows the sign-in form.
    """
    stored = page_context()
    user = resolve_user(stored.database, stored.config.cookie_key)
    if user is None or user.id != stored.user.id:
        st.rerun()
    request = build_request(stored.database, user, stored.request.language)
    store_request(request)
    return _context_for(request)


def fragment_page_context() -> PageContext:
    """Return the page context for a fragment's body: checked afresh in a fragment rerun.

    In a full run Home.py has just checked the sign-in, so the stored context is current.
    """
    run = get_script_run_ctx()
    # fragment_ids_this_run is not public API; it names the fragments of a fragment rerun
    # and is empty in a full run (Streamlit 1.67).
    if run is not None and run.fragment_ids_this_run:
        return checked_page_context()
    return page_context()


def admin_page_context() -> PageContext:
    """Return the page context of an admin, or stop the page for anyone else.

    The menu never offers admin pages to customers; this guards against a page script
    being run some other way.
    """
    context = page_context()
    if not context.user.is_admin:
        st.stop()
    return context


def require_customer(context: PageContext) -> CustomerContext:
    """Return the customer of this run, or stop with a hint for an admin who picked none."""
    if context.request.customer is None:
        st.info(context.t("admin.pick_customer"))
        st.stop()
    return context.request.customer


def flash(kind: str, text: str) -> None:
    """Keep a message to show at the top of the next run (after a callback or rerun)."""
    st.session_state[FLASH_KEY] = (kind, text, False)


def show_flash() -> None:
    """Show the kept message, and forget it unless a rerun follows at once.

    A run that writes the sign-in cookie, as after a password change, is followed by a
    rerun when the browser reports the cookie back. The message is kept for that one rerun,
    which would otherwise replace it before the user could read it.
    """
    message = st.session_state.get(FLASH_KEY)
    if message is None:
        return
    kind, text, kept_once = message
    if cookie_write_pending() and not kept_once:
        st.session_state[FLASH_KEY] = (kind, text, True)
    else:
        del st.session_state[FLASH_KEY]
    {"success": st.success, "warning": st.warning, "error": st.error}.get(kind, st.info)(text)


def perform(context: PageContext, action: Callable[[Session], object], success: Callable[[object], str]) -> None:
    """Run one write action in its own transaction, then rerun with a success message.

    A domain error is shown where the action was triggered and nothing is saved.
    """
    try:
        with context.database.write() as session:
            result = action(session)
    except PortalError as error:
        st.error(error_text(context, error))
        return
    flash("success", success(result))
    st.rerun()


def error_text(context: PageContext, error: PortalError) -> str:
    """Translate a domain error, listing every problem of a Problems error."""
    if isinstance(error, Problems):
        return "\n".join(f"- {error_text(context, problem)}" for problem in error.problems)
    params = {
        key: escape_markdown(
            context.fmt.number(value) if isinstance(value, int) and not isinstance(value, bool) else str(value)
        )
        for key, value in error.params.items()
    }
    if error.code == "error.not_found":
        return context.t("error.not_found")
    text = context.t(error.code, **params)
    if "sku" in params and "{sku}" not in context.fmt.t(error.code):
        text = f"{params['sku']}: {text}"
    return text

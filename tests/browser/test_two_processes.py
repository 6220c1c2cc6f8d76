"""Two `streamlit run` processes on one database, as behind a load balancer.

The database is PostgreSQL when PORTAL_TEST_DATABASE_URL is set (a database of this test's
own on that server), else one SQLite file. Both processes share one cookie key.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import create_engine, select, text, update
from sqlalchemy.engine import make_url

from portal.models import AssortmentItem, Customer, Product, StockDisplay, SupplierSettings
from tests.browser.conftest import (
    DATABASE_FILE_NAME,
    HEALTH_TIMEOUT_SECONDS,
    PROJECT_ROOT,
    PortalServer,
    _free_loopback_port,
    _is_healthy,
    _stop,
    server_command,
)
from tests.browser.portal_ui import (
    CUSTOMER_PASSWORD,
    CUSTOMER_USERNAME,
    link_or_button,
    main_area,
    sign_in,
    wait_until_settled,
)

pytestmark = pytest.mark.browser

DATABASE_NAME = "portal_two_processes"


def _run_portal_command(url: str, cookie_key: str, *arguments: str) -> None:
    environment = {**os.environ, "PORTAL_DATABASE_URL": url, "PORTAL_COOKIE_KEY": cookie_key, "PORTAL_DEMO": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "portal", *arguments],
        cwd=PROJECT_ROOT,
        env=environment,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"python -m portal {' '.join(arguments)} failed:\n{result.stdout}\n{result.stderr}"


def _fresh_postgres_database(server_url: str) -> str:
    """Create an empty database of this test's own on the test server and return its URL."""
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {DATABASE_NAME} WITH (FORCE)"))
        connection.execute(text(f"CREATE DATABASE {DATABASE_NAME}"))
    engine.dispose()
    return make_url(server_url).set(database=DATABASE_NAME).render_as_string(hide_password=False)


@pytest.fixture
def shared_database(demo_database: Path, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Return (URL, cookie key) of a demo database that shows exact stock."""
    cookie_key = secrets.token_urlsafe(48)
    postgres = os.environ.get("PORTAL_TEST_DATABASE_URL")
    if postgres:
        url = _fresh_postgres_database(postgres)
        _run_portal_command(url, cookie_key, "load-demo")
    else:
        for source in demo_database.parent.glob(demo_database.name + "*"):
            shutil.copy(source, tmp_path / source.name.replace(demo_database.name, DATABASE_FILE_NAME, 1))
        url = f"sqlite:///{tmp_path / DATABASE_FILE_NAME}"
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(update(SupplierSettings).values(stock_display=StockDisplay.EXACT.value))
    engine.dispose()
    yield url, cookie_key


@contextlib.contextmanager
def _portal_process(url: str, cookie_key: str, log_path: Path) -> Iterator[PortalServer]:
    port = _free_loopback_port()
    environment = {**os.environ, "PORTAL_DATABASE_URL": url, "PORTAL_COOKIE_KEY": cookie_key, "PORTAL_DEMO": "0"}
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            server_command(port),
            cwd=PROJECT_ROOT,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = PortalServer(f"http://127.0.0.1:{port}", cookie_key, log_path, process)
    try:
        deadline = time.monotonic() + HEALTH_TIMEOUT_SECONDS
        while not _is_healthy(server.base_url):
            assert server.is_running(), f"The portal exited during start-up:\n{server.log_tail()}"
            assert time.monotonic() < deadline, f"The portal did not become healthy:\n{server.log_tail()}"
            time.sleep(0.2)
        yield server
    finally:
        _stop(process)


@pytest.fixture
def two_servers(shared_database: tuple[str, str], tmp_path: Path) -> Iterator[tuple[PortalServer, PortalServer]]:
    url, cookie_key = shared_database
    with (
        _portal_process(url, cookie_key, tmp_path / "first.log") as first,
        _portal_process(url, cookie_key, tmp_path / "second.log") as second,
    ):
        yield first, second


def _plentiful_products(url: str) -> list[tuple[str, str, int]]:
    """Return (SKU, name, free stock) of two products in the demo customer's selection with 30 or more free."""
    engine = create_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(
            select(Product.sku, Product.name, Product.on_hand - Product.allocated)
            .join(AssortmentItem, AssortmentItem.product_id == Product.id)
            .join(Customer, Customer.id == AssortmentItem.customer_id)
            .where(Customer.name == "Demo Gifts B.V.", Product.on_hand - Product.allocated >= 30)
            .order_by(Product.sku)
            .limit(2)
        ).all()
    engine.dispose()
    return [tuple(row) for row in rows]


def _signed_in_page(browser: Browser, server: PortalServer) -> Page:
    page = browser.new_context(locale="en-GB").new_page()
    page.goto(server.url("/"))
    sign_in(page, CUSTOMER_USERNAME, CUSTOMER_PASSWORD)
    return page


def _add_on_detail(page: Page, server: PortalServer, sku: str, quantity: int) -> None:
    page.goto(server.url(f"/products?product={sku}"))
    wait_until_settled(page)
    page.get_by_role("textbox", name=f"Quantity of {sku}", exact=True).fill(str(quantity))
    page.get_by_role("button", name="Add", exact=True).click()
    expect(main_area(page).get_by_text(f"✅ {quantity}", exact=True)).to_be_visible()


def test_order_on_one_process_seen_on_the_other(
    browser: Browser, two_servers: tuple[PortalServer, PortalServer], shared_database: tuple[str, str]
) -> None:
    first, second = two_servers
    (ordered_sku, _, free_before), (kept_sku, kept_name, _) = _plentiful_products(shared_database[0])
    on_first = _signed_in_page(browser, first)
    on_second = _signed_in_page(browser, second)

    _add_on_detail(on_first, first, ordered_sku, 5)
    on_first.goto(first.url("/current-order"))
    on_first.get_by_role("button", name="Place order", exact=True).click()
    placed = main_area(on_first).get_by_text(re.compile(r"Order \S+ is placed"))
    expect(placed).to_be_visible()
    number = re.search(r"Order (\S+) is placed", placed.inner_text()).group(1)
    _add_on_detail(on_first, first, kept_sku, 3)

    on_second.goto(second.url("/orders"))
    expect(link_or_button(main_area(on_second), number)).to_be_visible()
    on_second.goto(second.url(f"/products?product={ordered_sku}"))
    expect(main_area(on_second).get_by_text(f"{free_before - 5} pcs in stock", exact=True)).to_be_visible()
    on_second.goto(second.url("/current-order"))
    expect(main_area(on_second).get_by_text(kept_name, exact=True)).to_be_visible()
    expect(main_area(on_second).get_by_role("textbox", name="Quantity")).to_have_value("3")

"""Races between real clients, each thread with its own connection, on each engine.

After every race the invariant check must pass: nothing oversold, nothing allocated
twice, every order's lines summing to its totals.
"""

import datetime as dt
import threading
from collections import Counter
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from portal import accounts, cart, order_admin, ordering, stock
from portal.catalog import load_customer_context
from portal.errors import PortalError
from portal.integrity import check_invariants
from portal.models import Order, OrderLine, Product
from tests.factories import make_address, make_customer, make_product, make_user

pytestmark = pytest.mark.timeout(120)


def race(clients: list[Callable[[], object]]) -> list[object]:
    """Start every client at the same moment; return each one's result or exception."""
    barrier = threading.Barrier(len(clients))
    results: list[object] = [None] * len(clients)

    def run(index: int, client: Callable[[], object]) -> None:
        barrier.wait()
        try:
            results[index] = client()
        except Exception as error:  # the test inspects what each client got
            results[index] = error

    threads = [threading.Thread(target=run, args=(index, client)) for index, client in enumerate(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def make_buyers(database, count: int) -> list[dict]:
    buyers = []
    with database.write() as session:
        for _ in range(count):
            customer = make_customer(session)
            buyers.append(
                {
                    "customer": customer.id,
                    "address": make_address(session, customer).id,
                    "user": make_user(session, customer),
                }
            )
    return buyers


def fill_cart(database, buyer: dict, items: list[tuple[int, int]]) -> str:
    with database.write() as session:
        context = load_customer_context(session, buyer["customer"])
        for product_id, quantity in items:
            cart.add_to_cart(session, context, buyer["user"], product_id, quantity)
        cart.set_details(session, context, buyer["user"], comment="", address_id=buyer["address"])
        return cart.get_cart(session, buyer["user"], buyer["customer"]).checkout_token


def placer(database, buyer: dict, token: str) -> Callable[[], object]:
    def place() -> object:
        with database.read() as session:
            context = load_customer_context(session, buyer["customer"])
        return ordering.place_order_once(database, context, buyer["user"], token)

    return place


def assert_sound(database) -> None:
    with database.read() as session:
        assert check_invariants(session) == []


def test_eight_customers_race_for_ten_units(database):
    with database.write() as session:
        product_id = make_product(session, on_hand=10).id
    buyers = make_buyers(database, 8)
    clients = [placer(database, buyer, fill_cart(database, buyer, [(product_id, 3)])) for buyer in buyers]

    results = race(clients)

    with database.read() as session:
        product = session.get(Product, product_id)
        backordered = session.scalar(
            select(func.sum(OrderLine.quantity - OrderLine.allocated)).where(OrderLine.product_id == product_id)
        )
    assert [type(result).__name__ for result in results] == ["PlacedOrder"] * 8
    assert product.allocated == 10
    assert backordered == 14
    assert product.on_hand - product.allocated == 0
    assert_sound(database)


def test_same_checkout_token_from_five_clients_places_one_order(database):
    with database.write() as session:
        product_id = make_product(session, on_hand=10).id
    buyer = make_buyers(database, 1)[0]
    token = fill_cart(database, buyer, [(product_id, 2)])

    results = race([placer(database, buyer, token) for _ in range(5)])

    with database.read() as session:
        orders = session.scalar(select(func.count(Order.id)))
    assert orders == 1
    assert len({result.order_id for result in results}) == 1
    assert sum(not result.repeated for result in results) == 1
    assert_sound(database)


def test_receipt_racing_orders_serves_queue_in_order(database):
    with database.write() as session:
        product_id = make_product(session, on_hand=0).id
    waiting = make_buyers(database, 3)
    for buyer in waiting:
        placer(database, buyer, fill_cart(database, buyer, [(product_id, 4)]))()
    newcomers = make_buyers(database, 4)
    clients = [placer(database, buyer, fill_cart(database, buyer, [(product_id, 2)])) for buyer in newcomers]

    def receive() -> object:
        return database.transaction(lambda session: stock.receive_stock(session, product_id, 10, "race"))

    results = race([receive, *clients])

    with database.read() as session:
        product = session.get(Product, product_id)
        first_three = session.scalars(
            select(OrderLine.allocated)
            .join(Order, Order.id == OrderLine.order_id)
            .where(Order.customer_id.in_([buyer["customer"] for buyer in waiting]))
            .order_by(OrderLine.queue_position, OrderLine.id)
        ).all()
    assert not [result for result in results if isinstance(result, Exception)]
    assert product.allocated == 10
    assert first_three[:2] == [4, 4]
    assert_sound(database)


def test_delivery_and_cancellation_of_one_line(database):
    with database.write() as session:
        product_id = make_product(session, on_hand=5).id
    buyer = make_buyers(database, 1)[0]
    placed = placer(database, buyer, fill_cart(database, buyer, [(product_id, 5)]))()
    with database.read() as session:
        line_id = session.scalar(select(OrderLine.id).where(OrderLine.order_id == placed.order_id))

    def deliver() -> object:
        return database.transaction(
            lambda session: ordering.record_delivery(session, placed.order_id, {line_id: 5}, dt.date(2026, 12, 3))
        )

    def cancel() -> object:
        return database.transaction(lambda session: order_admin.cancel_order(session, placed.order_id))

    results = race([deliver, cancel])

    errors = [result for result in results if isinstance(result, Exception)]
    assert len(errors) == 1
    assert isinstance(errors[0], PortalError)
    assert errors[0].code in {"delivery.order_closed", "admin_orders.closed"}
    with database.read() as session:
        product = session.get(Product, product_id)
        stock_after = (product.on_hand, product.allocated)
    assert stock_after in {(0, 0), (5, 0)}
    assert_sound(database)


def test_twenty_clients_overlapping_products_never_deadlock(database):
    with database.write() as session:
        product_ids = [make_product(session, on_hand=25).id for _ in range(6)]
    buyers = make_buyers(database, 20)
    clients = []
    for index, buyer in enumerate(buyers):
        # Each client wants four of the six products, in its own order.
        chosen = [product_ids[(index + offset) % 6] for offset in (0, 3, 1, 4)]
        if index % 2:
            chosen.reverse()
        clients.append(placer(database, buyer, fill_cart(database, buyer, [(product, 2) for product in chosen])))

    results = race(clients)

    kinds = Counter(type(result).__name__ for result in results)
    assert kinds == Counter({"PlacedOrder": 20})
    assert_sound(database)


def test_parallel_sign_in_attempts_respect_lockout(database):
    """Attempts begun at once let at most MAX_FAILED_ATTEMPTS passwords be checked."""
    with database.write() as session:
        make_user(session, make_customer(session), username="target", password="correct horse battery")
    attempt_count = accounts.MAX_FAILED_ATTEMPTS * 3

    def attempt() -> accounts.SignInAttempt:
        with database.write() as session:
            return accounts.begin_sign_in(session, "Target")

    results = race([attempt] * attempt_count)

    errors = [result for result in results if isinstance(result, Exception)]
    assert errors == []
    checked = [result for result in results if result.account is not None]
    assert len(checked) == accounts.MAX_FAILED_ATTEMPTS
    assert sorted(result.number for result in results) == list(range(1, attempt_count + 1))
    assert sum(result.locks_until is not None for result in results) == 1
    with database.read() as session:
        assert accounts.locked_until(session, "target") is not None


def test_parallel_first_attempts_share_throttle_row(database):
    """Attempts for a username never tried before all count on one row, none fails to insert it."""

    def attempt() -> accounts.SignInAttempt:
        with database.write() as session:
            return accounts.begin_sign_in(session, "nobody-yet")

    results = race([attempt] * 8)

    assert [result for result in results if isinstance(result, Exception)] == []
    assert sorted(result.number for result in results) == list(range(1, 9))

"""What a customer may see and order: assortment, prices, free stock and search."""

from __future__ import annotations

import enum
import functools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from sqlalchemy import (
    BindParameter,
    Boolean,
    ColumnElement,
    Connection,
    Row,
    Select,
    and_,
    bindparam,
    exists,
    func,
    literal_column,
    select,
    text,
    tuple_,
)
from sqlalchemy.orm import Session

from portal.errors import NotFound
from portal.models import (
    AssortmentItem,
    AssortmentMode,
    Customer,
    PriceListItem,
    Product,
    ProductImage,
    StockDisplay,
    SupplierSettings,
)
from portal.pricing import PriceTier, customer_unit_price, discounted_unit_price
from portal.settings import load_settings

PAGE_SIZE = 50
# FTS5's trigram tokenizer and pg_trgm index substrings of three characters or more.
MIN_INDEXED_TERM_LENGTH = 3
MAX_SEARCH_LENGTH = 100
# On SQLite, a search whose indexed words match at most this many products filters by
# the list of their ids, so the products are fetched by primary key and sorted. With more
# matches, walking the name index and stopping after a page is cheaper.
FTS_ID_LIST_LIMIT = 500


def normalize_search_text(value: str) -> str:
    """Lower-case, strip accents and fold white space: 'CRÈME  Brûlée' -> 'creme brulee'."""
    decomposed = unicodedata.normalize("NFKD", value)
    stripped = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(stripped.casefold().split())


def product_search_text(sku: str, ean: str | None, name: str) -> str:
    return normalize_search_text(" ".join(part for part in (sku, ean or "", name) if part))


@dataclass(frozen=True)
class CustomerContext:
    """The customer whose catalogue is shown, and the settings that shape it."""

    customer_id: int
    assortment_mode: AssortmentMode
    price_list_id: int | None
    discount_percent: Decimal
    stock_display: StockDisplay
    low_stock_threshold: int


_customers, _settings = Customer.__table__, SupplierSettings.__table__
_CUSTOMER_CONTEXT = (
    select(
        _customers.c.id,
        _customers.c.assortment_mode,
        _customers.c.price_list_id,
        _customers.c.discount_percent,
        _customers.c.stock_display,
        _settings.c.id.label("settings_id"),
        _settings.c.stock_display.label("default_stock_display"),
        _settings.c.low_stock_threshold,
    )
    .select_from(_customers.outerjoin(_settings, _settings.c.id == 1))
    .where(_customers.c.id == bindparam("customer_id"), _customers.c.active.is_(True))
)


def load_customer_context(session: Session, customer_id: int) -> CustomerContext:
    """Return what pricing and the catalogue need of an active customer; raise NotFound otherwise.

    A deactivated customer has no context, so an admin who was acting for it can no
    longer browse or order for it.
    """
    # This runs on every page and before every order, so it reads the customer and the
    # portal's settings in one statement on the connection. The flush makes changes that
    # the caller has not flushed yet visible to it, as session.get would return them.
    session.flush()
    row = session.connection().execute(_CUSTOMER_CONTEXT, {"customer_id": customer_id}).one_or_none()
    if row is None:
        raise NotFound("customer")
    if row.settings_id is None:
        load_settings(session)  # raises the error that explains the missing settings row
    return CustomerContext(
        customer_id=row.id,
        assortment_mode=row.assortment_mode,
        price_list_id=row.price_list_id,
        discount_percent=row.discount_percent or Decimal(0),
        stock_display=row.stock_display or row.default_stock_display,
        low_stock_threshold=row.low_stock_threshold,
    )


def visibility_filter(context: CustomerContext, *, use_active_index: bool = True) -> ColumnElement[bool]:
    """Condition on Product that is true for products the customer may see and order.

    With use_active_index false the active test is written `+products.active IS 1`: the
    unary plus keeps SQLite from choosing ix_products_active_name_id for it. Only
    SQLite's statements may pass false.
    """
    return visibility_condition(context.assortment_mode, context.customer_id, use_active_index=use_active_index)


def visibility_condition(
    mode: AssortmentMode,
    customer_id: int | BindParameter[int],
    *,
    use_active_index: bool = True,
) -> ColumnElement[bool]:
    """Build visibility_filter's condition from its parts.

    A bound parameter for the customer id lets a statement built once serve every customer
    with this assortment mode.
    """
    condition = _active_condition(use_active_index)
    if mode is AssortmentMode.SELECTION:
        in_selection = exists().where(
            AssortmentItem.customer_id == customer_id, AssortmentItem.product_id == Product.id
        )
        condition = and_(condition, in_selection)
    return condition


def _active_condition(use_active_index: bool) -> ColumnElement[bool]:
    active = Product.active if use_active_index else literal_column("+products.active", Boolean)
    return active.is_(True)


class StockInfo(NamedTuple):
    """Stock as the customer may see it: `quantity` for exact display, `level` otherwise."""

    mode: StockDisplay
    level: str  # in_stock, low or out
    quantity: int | None


def stock_info(context: CustomerContext, free: int) -> StockInfo:
    if free <= 0:
        level = "out"
    elif free <= context.low_stock_threshold:
        level = "low"
    else:
        level = "in_stock"
    quantity = max(free, 0) if context.stock_display is StockDisplay.EXACT else None
    return _shared_stock_info(context.stock_display, level, quantity)


@functools.lru_cache(maxsize=4096)
def _shared_stock_info(mode: StockDisplay, level: str, quantity: int | None) -> StockInfo:
    # A catalogue page shows a few distinct stock states many times, so rows share them.
    return StockInfo(mode, level, quantity)


class ProductRow(NamedTuple):
    """A catalogue product shown to one customer, with their price and the stock they may see.

    A named tuple rather than a frozen dataclass: a page builds 50 of them, and on the demo
    data 50 frozen dataclasses took about as long to build as the page's query on SQLite.
    """

    id: int
    sku: str
    ean: str | None
    name: str
    product_group: str
    unit: str
    unit_price: Decimal
    vat_rate: Decimal
    min_quantity: int
    order_multiple: int
    free_stock: int
    stock: StockInfo


@dataclass(frozen=True)
class ProductPage:
    rows: list[ProductRow]
    # Keyset cursor (name, id) of the last row, present when a next page exists.
    next_cursor: tuple[str, int] | None


_price_list_items = PriceListItem.__table__
_PRICE_TIERS = (
    select(_price_list_items.c.product_id, _price_list_items.c.min_quantity, _price_list_items.c.unit_price)
    .where(
        _price_list_items.c.price_list_id == bindparam("price_list_id"),
        _price_list_items.c.product_id.in_(bindparam("product_ids", expanding=True)),
    )
    .order_by(_price_list_items.c.product_id, _price_list_items.c.min_quantity)
)


def price_tiers(
    database: Session | Connection, price_list_id: int | None, product_ids: Sequence[int]
) -> dict[int, list[PriceTier]]:
    """Return the price list's tiers per product, lowest minimum quantity first."""
    if price_list_id is None or not product_ids:
        return {}
    connection = database.connection() if isinstance(database, Session) else database
    rows = connection.execute(_PRICE_TIERS, {"price_list_id": price_list_id, "product_ids": list(product_ids)})
    tiers: dict[int, list[PriceTier]] = {}
    for product_id, min_quantity, unit_price in rows:
        tiers.setdefault(product_id, []).append(PriceTier(min_quantity, unit_price))
    return tiers


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class _SearchIndex(enum.Enum):
    """The index that a search condition finds products with, before its LIKE or instr words narrow them."""

    NONE = "none"  # LIKE words alone (the trigram index on PostgreSQL)
    ID_LIST = "id_list"  # a list of the ids that FTS5 matched (SQLite)
    FTS_QUERY = "fts_query"  # an FTS5 subquery (SQLite)
    INSTR = "instr"  # instr on each word, with no index (SQLite)


@dataclass(frozen=True)
class _SearchFilter:
    """A search condition as a shape, whose statement is built once, and the values for its parameters."""

    index: _SearchIndex
    word_count: int
    parameters: dict[str, object]

    @property
    def by_id_list(self) -> bool:
        """True when the condition is a list of at most FTS_ID_LIST_LIMIT product ids."""
        return self.index is _SearchIndex.ID_LIST

    @property
    def condition(self) -> ColumnElement[bool]:
        """The condition with its values bound, for a statement that is built per call."""
        return _build_search_clause(self.index, self.word_count, self.parameters)


@functools.lru_cache(maxsize=256)
def _search_clause(index: _SearchIndex, word_count: int) -> ColumnElement[bool]:
    """Build a search condition whose ids, FTS5 query and words are parameters named search_*.

    A catalogue page built from it is the same statement object for every query of its
    shape, so SQLAlchemy finds its compiled form without walking the statement again.
    """
    return _build_search_clause(index, word_count, None)


def _build_search_clause(index: _SearchIndex, word_count: int, values: dict[str, object] | None) -> ColumnElement[bool]:
    """Build a search condition of the shape, with its values bound when `values` is given."""

    def parameter(name: str, expanding: bool = False) -> BindParameter:
        if values is None:
            return bindparam(name, expanding=expanding)
        return bindparam(name, values[name], expanding=expanding, unique=True)

    conditions: list[ColumnElement[bool]] = []
    if index is _SearchIndex.ID_LIST:
        # One expanding parameter: coercing each id into its own literal cost more than the query.
        conditions.append(Product.id.in_(parameter("search_ids", expanding=True)))
    elif index is _SearchIndex.FTS_QUERY:
        match = text("products_fts MATCH :search_match")
        if values is not None:
            match = match.bindparams(search_match=values["search_match"])
        conditions.append(Product.id.in_(select(text("rowid")).select_from(text("products_fts")).where(match)))
    words = [parameter(f"search_word_{number}") for number in range(word_count)]
    if index is _SearchIndex.INSTR:
        conditions.extend(func.instr(Product.search_text, word) > 0 for word in words)
    else:
        conditions.extend(Product.search_text.like(word, escape="\\") for word in words)
    return and_(*conditions)


_FTS_IDS = text("SELECT rowid FROM products_fts WHERE products_fts MATCH :match LIMIT :limit")


def _fts_ids(session: Session, match: str) -> list[int] | None:
    """Return the ids of the products matching an FTS5 query, or None when there are too many to list."""
    # Run on the connection, so flush first as the ORM would: the index follows the products table.
    session.flush()
    parameters = {"match": match, "limit": FTS_ID_LIST_LIMIT + 1}
    ids = session.connection().execute(_FTS_IDS, parameters).scalars().all()
    return list(ids) if len(ids) <= FTS_ID_LIST_LIMIT else None


def _like_parameters(words: list[str]) -> dict[str, object]:
    return {f"search_word_{number}": f"%{_escape_like(word)}%" for number, word in enumerate(words)}


def _search_filter(session: Session, query: str, mode: AssortmentMode | None = None) -> _SearchFilter | None:
    """Choose the search condition's shape, and the plan it is for, from a customer's query.

    `mode` is the assortment mode of the customer searching, or None for a search that is
    not limited to one customer's catalogue.
    """
    words = normalize_search_text(query[:MAX_SEARCH_LENGTH]).split()
    if not words:
        return None
    indexed = [word for word in words if len(word) >= MIN_INDEXED_TERM_LENGTH]
    if not indexed or session.get_bind().dialect.name != "sqlite":
        return _SearchFilter(_SearchIndex.NONE, len(words), _like_parameters(words))

    # Each word as an FTS5 string: a double quote inside is escaped by doubling it.
    match = " AND ".join('"' + word.replace('"', '""') + '"' for word in indexed)
    remaining = [word for word in words if word not in indexed]
    ids = _fts_ids(session, match)
    if ids is not None:
        return _SearchFilter(_SearchIndex.ID_LIST, len(remaining), {"search_ids": ids, **_like_parameters(remaining)})
    if mode is AssortmentMode.SELECTION:
        # Collecting thousands of matches from the index costs more than testing the
        # customer's selection in name order until a page is full. Both sides are
        # normalized, so instr finds what the trigram index finds. It ran faster than
        # LIKE on the large benchmark tier.
        parameters = {f"search_word_{number}": word for number, word in enumerate(words)}
        return _SearchFilter(_SearchIndex.INSTR, len(words), parameters)
    return _SearchFilter(_SearchIndex.FTS_QUERY, len(remaining), {"search_match": match, **_like_parameters(remaining)})


def search_condition(session: Session, query: str) -> ColumnElement[bool] | None:
    """Condition on Product matching every word of the query in SKU, EAN or name.

    Words of three characters or more go through the search index (FTS5 trigram on
    SQLite, pg_trgm on PostgreSQL). Shorter words only narrow the rows the indexed words
    found; a query made of short words alone is matched by scanning in name order. On
    SQLite, when the indexed words match at most FTS_ID_LIST_LIMIT products, the
    condition lists their ids.
    """
    found = _search_filter(session, query)
    return found.condition if found is not None else None


_products = Product.__table__
_PAGE_COLUMNS = [
    _products.c.id,
    _products.c.sku,
    _products.c.ean,
    _products.c.name,
    _products.c.product_group,
    _products.c.unit,
    _products.c.list_price,
    _products.c.vat_rate,
    _products.c.min_quantity,
    _products.c.order_multiple,
    _products.c.on_hand,
    _products.c.allocated,
]
# The price list's price for a product's minimum order quantity: that of the tier with the
# highest minimum quantity not above it, as customer_unit_price picks it.
_TIER_PRICE = (
    select(_price_list_items.c.unit_price)
    .where(
        _price_list_items.c.price_list_id == bindparam("price_list_id"),
        _price_list_items.c.product_id == _products.c.id,
        _price_list_items.c.min_quantity <= _products.c.min_quantity,
    )
    .order_by(_price_list_items.c.min_quantity.desc())
    .limit(1)
    .scalar_subquery()
    .label("tier_price")
)


_assortment_items = AssortmentItem.__table__


@functools.lru_cache(maxsize=256)
def _page_statement(
    mode: AssortmentMode,
    with_tier_price: bool,
    use_active_index: bool,
    selection_in_name_order: bool,
    with_cursor: bool,
    limit: int,
    search: tuple[_SearchIndex, int] | None = None,
) -> Select:
    """Build the catalogue page's statement; its parameters are bound at run time.

    `search` is the shape of the search condition, as _SearchFilter gives it, or None.

    With selection_in_name_order the statement reads the customer's selection from
    ix_assortment_items_customer_name, which lists it in catalogue order, and looks each
    product up by primary key, so it stops as soon as the page is full.
    """
    columns = [*_PAGE_COLUMNS, _TIER_PRICE] if with_tier_price else _PAGE_COLUMNS
    if selection_in_name_order:
        statement = (
            select(*columns)
            .select_from(_assortment_items.join(_products, _products.c.id == _assortment_items.c.product_id))
            .where(_assortment_items.c.customer_id == bindparam("customer_id"), _active_condition(use_active_index))
        )
        order = (_assortment_items.c.product_name, _assortment_items.c.product_id)
    else:
        statement = select(*columns).where(
            visibility_condition(mode, bindparam("customer_id"), use_active_index=use_active_index)
        )
        order = (_products.c.name, _products.c.id)
    if with_cursor:
        statement = statement.where(tuple_(*order) > tuple_(bindparam("after_name"), bindparam("after_id")))
    if search is not None:
        statement = statement.where(_search_clause(*search))
    return statement.order_by(*order).limit(limit)


def _page_rows(context: CustomerContext, rows: Sequence[Row]) -> list[ProductRow]:
    # Rows are unpacked as tuples, because with SQLAlchemy 2.1 reading a Row's field by name
    # took about as long as building the whole ProductRow. The statement's tier price is
    # the one customer_unit_price would pick at the minimum order quantity.
    discount = context.discount_percent
    page = []
    for row in rows:
        id_, sku, ean, name, group, unit, list_price, vat_rate, min_quantity, multiple, on_hand, allocated, *tier = row
        price = tier[0] if tier and tier[0] is not None else list_price
        free = on_hand - allocated
        # Positional, in ProductRow's field order: keywords took 1 us more per row.
        page.append(
            ProductRow(
                id_,
                sku,
                ean,
                name,
                group,
                unit,
                discounted_unit_price(price, discount),
                vat_rate,
                min_quantity,
                multiple,
                free,
                stock_info(context, free),
            )
        )
    return page


def _rows(session: Session, context: CustomerContext, products: Sequence[Product]) -> list[ProductRow]:
    tiers = price_tiers(session, context.price_list_id, [product.id for product in products])
    rows = []
    for product in products:
        free = product.on_hand - product.allocated
        rows.append(
            ProductRow(
                id=product.id,
                sku=product.sku,
                ean=product.ean,
                name=product.name,
                product_group=product.product_group,
                unit=product.unit,
                unit_price=customer_unit_price(
                    product.list_price, tiers.get(product.id, []), context.discount_percent, product.min_quantity
                ),
                vat_rate=product.vat_rate,
                min_quantity=product.min_quantity,
                order_multiple=product.order_multiple,
                free_stock=free,
                stock=stock_info(context, free),
            )
        )
    return rows


def search_products(
    session: Session,
    context: CustomerContext,
    query: str = "",
    after: tuple[str, int] | None = None,
    page_size: int = PAGE_SIZE,
) -> ProductPage:
    """Return one page of the customer's catalogue in name order, matching the query.

    Paging is by keyset: pass the previous page's next_cursor as `after`, so page 1,000
    costs what page 1 costs.
    """
    # The statement is built once per shape and run on the connection, with columns in
    # place of Product entities: for a 50-row page, building statements and entities cost
    # more than the query. The flush keeps what an ORM query would see after autoflush.
    session.flush()
    found = _search_filter(session, query, context.assortment_mode)
    by_id_list = found is not None and found.by_id_list
    # A short id list is cheapest by primary key, and otherwise a selection is read in name
    # order from its own index. With the active index SQLite would walk every product in
    # name order and test each.
    selection_in_name_order = context.assortment_mode is AssortmentMode.SELECTION and not by_id_list
    on_sqlite = session.get_bind().dialect.name == "sqlite"
    use_active_index = not (on_sqlite and (by_id_list or selection_in_name_order))
    with_tier_price = context.price_list_id is not None
    statement = _page_statement(
        context.assortment_mode,
        with_tier_price,
        use_active_index,
        selection_in_name_order,
        after is not None,
        page_size + 1,
        (found.index, found.word_count) if found is not None else None,
    )
    parameters: dict[str, object] = {"customer_id": context.customer_id, "price_list_id": context.price_list_id}
    if found is not None:
        parameters.update(found.parameters)
    if after is not None:
        parameters["after_name"], parameters["after_id"] = after
    rows = session.connection().execute(statement, parameters).all()

    has_more = len(rows) > page_size
    rows = rows[:page_size]
    page = _page_rows(context, rows)
    next_cursor = (page[-1].name, page[-1].id) if has_more else None
    return ProductPage(rows=page, next_cursor=next_cursor)


@dataclass(frozen=True)
class ProductDetail:
    row: ProductRow
    description: str
    tiers: list[tuple[int, Decimal]]  # (from quantity, customer unit price)
    has_image: bool


def get_product(session: Session, context: CustomerContext, sku: str) -> ProductDetail:
    """Return a product of the customer's catalogue by SKU; others raise NotFound."""
    product = session.scalar(select(Product).where(Product.sku == sku, visibility_filter(context)))
    if product is None:
        raise NotFound("product")

    row = _rows(session, context, [product])[0]
    tiers = price_tiers(session, context.price_list_id, [product.id]).get(product.id, [])
    customer_tiers = [
        (tier.min_quantity, customer_unit_price(product.list_price, tiers, context.discount_percent, tier.min_quantity))
        for tier in tiers
        if tier.min_quantity > product.min_quantity
    ]
    has_image = session.scalar(select(ProductImage.product_id).where(ProductImage.product_id == product.id)) is not None
    return ProductDetail(row=row, description=product.description, tiers=customer_tiers, has_image=has_image)


def product_image(session: Session, context: CustomerContext, product_id: int, thumbnail: bool = False) -> bytes | None:
    """Return a visible product's image bytes, or None."""
    column = ProductImage.thumbnail if thumbnail else ProductImage.image
    return session.scalar(
        select(column)
        .join(Product, Product.id == ProductImage.product_id)
        .where(ProductImage.product_id == product_id, visibility_filter(context))
    )


def is_orderable(session: Session, context: CustomerContext, product_ids: Sequence[int]) -> set[int]:
    """Return which of the product ids the customer may order now."""
    if not product_ids:
        return set()
    return set(session.scalars(select(Product.id).where(Product.id.in_(product_ids), visibility_filter(context))))


_SKU_PATTERN = re.compile(r"^[\w\-./ ]{1,64}$")


def looks_like_sku(value: str) -> bool:
    """Tell whether a URL parameter could be a SKU, so junk skips the database."""
    return bool(_SKU_PATTERN.match(value))

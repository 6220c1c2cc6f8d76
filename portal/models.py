"""Typed SQLAlchemy models of the portal's data."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

UnitPrice = Numeric(12, 4)
Amount = Numeric(12, 2)
VatRate = Numeric(5, 2)
Percentage = Numeric(5, 2)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC timestamp on every engine.

    SQLite has no time zone type and returns naive values, so they are stored as UTC
    and marked UTC again when read. Naive values are rejected on the way in.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: object) -> dt.datetime | None:  # noqa: ARG002
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}; pass a timezone-aware value")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: object) -> dt.datetime | None:  # noqa: ARG002
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Role(enum.StrEnum):
    CUSTOMER = "customer"
    ADMIN = "admin"


class StockDisplay(enum.StrEnum):
    EXACT = "exact"
    INDICATOR = "indicator"
    HIDDEN = "hidden"


class AssortmentMode(enum.StrEnum):
    ALL = "all"
    SELECTION = "selection"


class OrderStatus(enum.StrEnum):
    NEW = "new"
    ACCEPTED = "accepted"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class OrderSource(enum.StrEnum):
    PORTAL = "portal"
    SUPPLIER = "supplier"
    IMPORT = "import"


class MovementKind(enum.StrEnum):
    RECEIPT = "receipt"
    CORRECTION = "correction"
    ALLOCATION = "allocation"
    RELEASE = "release"
    DELIVERY = "delivery"


def _enum(enum_class: type[enum.StrEnum], name: str) -> Enum:
    # Stored as plain strings, so adding a member needs no ALTER TYPE on PostgreSQL.
    return Enum(enum_class, name=name, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])


class SupplierSettings(Base):
    """The one row of portal-wide settings the supplier edits."""

    __tablename__ = "supplier_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    portal_name: Mapped[str] = mapped_column(String(200))
    greeting_en: Mapped[str] = mapped_column(Text, default="")
    greeting_nl: Mapped[str] = mapped_column(Text, default="")
    stock_display: Mapped[StockDisplay] = mapped_column(_enum(StockDisplay, "stock_display"))
    low_stock_threshold: Mapped[int] = mapped_column(Integer, default=10)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    time_zone: Mapped[str] = mapped_column(String(64), default="Europe/Amsterdam")
    # VAT rates in percent that products may carry, comma separated: "21,9,0".
    vat_rates: Mapped[str] = mapped_column(String(100), default="21,9,0")
    logo: Mapped[bytes | None] = mapped_column(LargeBinary)
    logo_content_type: Mapped[str | None] = mapped_column(String(50))


class PriceList(Base):
    __tablename__ = "price_lists"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)


class Customer(Base):
    """A customer company; its users share its orders, addresses and assortment."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(100), default="")
    vat_number: Mapped[str] = mapped_column(String(40), default="")
    language: Mapped[str] = mapped_column(String(5), default="nl")
    assortment_mode: Mapped[AssortmentMode] = mapped_column(
        _enum(AssortmentMode, "assortment_mode"), default=AssortmentMode.ALL
    )
    price_list_id: Mapped[int | None] = mapped_column(ForeignKey("price_lists.id"))
    discount_percent: Mapped[Decimal] = mapped_column(Percentage, default=Decimal("0"))
    stock_display: Mapped[StockDisplay | None] = mapped_column(_enum(StockDisplay, "customer_stock_display"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    addresses: Mapped[list[Address]] = relationship(back_populates="customer", order_by="Address.id")

    __table_args__ = (CheckConstraint("discount_percent >= 0 AND discount_percent <= 100", name="discount_range"),)


class Address(Base):
    """A delivery address of a customer company."""

    __tablename__ = "addresses"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    street: Mapped[str] = mapped_column(String(200))
    postcode: Mapped[str] = mapped_column(String(20))
    city: Mapped[str] = mapped_column(String(100))
    country: Mapped[str] = mapped_column(String(100))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    customer: Mapped[Customer] = relationship(back_populates="addresses")


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower case: streamlit-authenticator lower-cases the usernames it is given.
    username: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(100))
    role: Mapped[Role] = mapped_column(_enum(Role, "role"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    language: Mapped[str | None] = mapped_column(String(5))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Re-authentication cookies issued before this moment are ignored: set at sign-out,
    # password change and deactivation.
    tokens_valid_after: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utc_now)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utc_now)

    customer: Mapped[Customer | None] = relationship()

    __table_args__ = (CheckConstraint("role = 'admin' OR customer_id IS NOT NULL", name="customer_user_has_customer"),)


class SignInThrottle(Base):
    """Failed sign-in attempts per username, kept for unknown usernames too so that a
    lockout message does not reveal whether an account exists."""

    __tablename__ = "sign_in_throttle"

    username: Mapped[str] = mapped_column(String(100), primary_key=True)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    last_failed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class Product(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    ean: Mapped[str | None] = mapped_column(String(14), index=True)
    name: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    product_group: Mapped[str] = mapped_column(String(100), default="", index=True)
    list_price: Mapped[Decimal] = mapped_column(UnitPrice)
    vat_rate: Mapped[Decimal] = mapped_column(VatRate, default=Decimal("21"))
    unit: Mapped[str] = mapped_column(String(20), default="pcs")
    min_quantity: Mapped[int] = mapped_column(Integer, default=1)
    order_multiple: Mapped[int] = mapped_column(Integer, default=1)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    allocated: Mapped[int] = mapped_column(Integer, default=0)
    # Lower-cased, accent-free SKU, EAN and name: what search indexes match against.
    search_text: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (
        CheckConstraint("allocated >= 0 AND allocated <= on_hand", name="allocated_within_on_hand"),
        CheckConstraint("min_quantity >= 1 AND order_multiple >= 1", name="quantity_rules_positive"),
        CheckConstraint("list_price >= 0", name="list_price_not_negative"),
        Index("ix_products_active_name_id", "active", "name", "id"),
    )


class ProductImage(Base):
    """A product photo and its thumbnail, in the database so every app process serves them."""

    __tablename__ = "product_images"

    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), primary_key=True)
    content_type: Mapped[str] = mapped_column(String(50))
    image: Mapped[bytes] = mapped_column(LargeBinary)
    thumbnail: Mapped[bytes] = mapped_column(LargeBinary)


class AssortmentItem(Base):
    """A product in a customer's selection (used when the customer's mode is 'selection')."""

    __tablename__ = "assortment_items"

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), primary_key=True, index=True)
    # A copy of the product's name, which database triggers write on every insert and
    # rename, so one index lists a customer's selection in catalogue order. A value that
    # differs from the product's name is replaced, so code need not set it.
    product_name: Mapped[str | None] = mapped_column(String(300))

    __table_args__ = (Index("ix_assortment_items_customer_name", "customer_id", "product_name", "product_id"),)


class PriceListItem(Base):
    """A price of a product in a price list, from a minimum quantity up."""

    __tablename__ = "price_list_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    price_list_id: Mapped[int] = mapped_column(ForeignKey("price_lists.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    min_quantity: Mapped[int] = mapped_column(Integer, default=1)
    unit_price: Mapped[Decimal] = mapped_column(UnitPrice)

    __table_args__ = (
        UniqueConstraint("price_list_id", "product_id", "min_quantity", name="uq_price_list_items_tier"),
        CheckConstraint("min_quantity >= 1", name="min_quantity_positive"),
        CheckConstraint("unit_price >= 0", name="unit_price_not_negative"),
    )


class Cart(Base):
    """A user's current order for one customer: header fields and the checkout token.

    Customer users have one; an admin ordering for several customers has one per customer.
    """

    __tablename__ = "carts"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    comment: Mapped[str] = mapped_column(Text, default="")
    address_id: Mapped[int | None] = mapped_column(ForeignKey("addresses.id"))
    # Replaced after every placed order; a submit carrying an old token returns that order.
    checkout_token: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utc_now)

    lines: Mapped[list[CartLine]] = relationship(
        back_populates="cart", order_by="CartLine.id", cascade="all, delete-orphan"
    )

    __table_args__ = (UniqueConstraint("user_id", "customer_id", name="uq_carts_user_customer"),)


class CartLine(Base):
    __tablename__ = "cart_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    cart_id: Mapped[int] = mapped_column(ForeignKey("carts.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)

    cart: Mapped[Cart] = relationship(back_populates="lines")
    product: Mapped[Product] = relationship()

    __table_args__ = (
        UniqueConstraint("cart_id", "product_id", name="uq_cart_lines_cart_product"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    status: Mapped[OrderStatus] = mapped_column(_enum(OrderStatus, "order_status"))
    source: Mapped[OrderSource] = mapped_column(_enum(OrderSource, "order_source"))
    comment: Mapped[str] = mapped_column(Text, default="")
    # Snapshot of the delivery address: later edits to the address leave the order as placed.
    address_name: Mapped[str] = mapped_column(String(200), default="")
    address_street: Mapped[str] = mapped_column(String(200), default="")
    address_postcode: Mapped[str] = mapped_column(String(20), default="")
    address_city: Mapped[str] = mapped_column(String(100), default="")
    address_country: Mapped[str] = mapped_column(String(100), default="")
    placed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utc_now)
    checkout_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    subtotal: Mapped[Decimal] = mapped_column(Amount)
    vat_total: Mapped[Decimal] = mapped_column(Amount)
    total: Mapped[Decimal] = mapped_column(Amount)

    lines: Mapped[list[OrderLine]] = relationship(back_populates="order", order_by="OrderLine.line_number")
    deliveries: Mapped[list[Delivery]] = relationship(back_populates="order", order_by="Delivery.id")

    __table_args__ = (
        Index("ix_orders_customer_placed", "customer_id", "placed_at", "id"),
        CheckConstraint("subtotal >= 0 AND vat_total >= 0 AND total >= 0", name="totals_not_negative"),
    )


class OrderLine(Base):
    """A line of an order, with the SKU, name, price and VAT rate it was placed with.

    Of the ordered quantity, `allocated` units are reserved on hand, `delivered` were
    shipped and `cancelled` will not come; the rest is backordered.
    """

    __tablename__ = "order_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    line_number: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"), index=True)
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(300))
    unit_price: Mapped[Decimal] = mapped_column(UnitPrice)
    vat_rate: Mapped[Decimal] = mapped_column(VatRate)
    quantity: Mapped[int] = mapped_column(Integer)
    allocated: Mapped[int] = mapped_column(Integer, default=0)
    delivered: Mapped[int] = mapped_column(Integer, default=0)
    cancelled: Mapped[int] = mapped_column(Integer, default=0)
    line_total: Mapped[Decimal] = mapped_column(Amount)
    # Position in the backorder queue; lower is served first. Defaults to the order time,
    # and the supplier can move a line forward by lowering it.
    queue_position: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utc_now)

    order: Mapped[Order] = relationship(back_populates="lines")

    @property
    def backordered(self) -> int:
        return self.quantity - self.allocated - self.delivered - self.cancelled

    __table_args__ = (
        UniqueConstraint("order_id", "line_number", name="uq_order_lines_order_line_number"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint(
            "allocated >= 0 AND delivered >= 0 AND cancelled >= 0 AND allocated + delivered + cancelled <= quantity",
            name="parts_within_quantity",
        ),
        Index("ix_order_lines_open_queue", "product_id", "queue_position", "id"),
    )


class Delivery(Base):
    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    delivered_on: Mapped[dt.date] = mapped_column()
    track_and_trace: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utc_now)

    order: Mapped[Order] = relationship(back_populates="deliveries")
    lines: Mapped[list[DeliveryLine]] = relationship(back_populates="delivery", order_by="DeliveryLine.id")


class DeliveryLine(Base):
    __tablename__ = "delivery_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"), index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)

    delivery: Mapped[Delivery] = relationship(back_populates="lines")
    order_line: Mapped[OrderLine] = relationship()

    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)


class StockMovement(Base):
    """One change to a product's stock on hand or allocated units, with its reason."""

    __tablename__ = "stock_movements"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    kind: Mapped[MovementKind] = mapped_column(_enum(MovementKind, "movement_kind"))
    on_hand_change: Mapped[int] = mapped_column(Integer, default=0)
    allocated_change: Mapped[int] = mapped_column(Integer, default=0)
    order_line_id: Mapped[int | None] = mapped_column(ForeignKey("order_lines.id"))
    reference: Mapped[str] = mapped_column(String(200), default="")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utc_now)

    __table_args__ = (Index("ix_stock_movements_product_created", "product_id", "created_at"),)


class AuditEvent(Base):
    """One security-relevant event or admin change: who did what to which object, when.

    Never holds a password, cookie or key.
    """

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utc_now, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The username as typed for sign-in attempts, which may belong to no user.
    actor_username: Mapped[str] = mapped_column(String(100), default="")
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    action: Mapped[str] = mapped_column(String(60), index=True)
    object_type: Mapped[str] = mapped_column(String(40), default="")
    object_id: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[str] = mapped_column(Text, default="")

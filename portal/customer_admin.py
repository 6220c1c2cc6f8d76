"""The supplier's changes to customer companies, their delivery addresses and user accounts.

Every change checks all of its input first and raises Problems listing each bad field,
so a form is either saved whole or not at all. Each change is logged, and written to the
audit log, with the id of the admin who made it; passwords appear in neither.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal import accounts, audit
from portal.errors import NotFound, PortalError, Problems
from portal.i18n import LANGUAGES
from portal.models import Address, AssortmentMode, Customer, Role, StockDisplay, User

log = logging.getLogger(__name__)

MAX_CUSTOMER_NUMBER_LENGTH = 40
MAX_NAME_LENGTH = 200
MAX_VAT_NUMBER_LENGTH = 40
MAX_COUNTRY_LENGTH = 100
MAX_STREET_LENGTH = 200
MAX_POSTCODE_LENGTH = 20
MAX_CITY_LENGTH = 100
MAX_USERNAME_LENGTH = 100
MIN_USERNAME_LENGTH = 3
MAX_EMAIL_LENGTH = 200
CUSTOMER_SEARCH_LIMIT = 50

# EU VAT numbers: a two-letter country prefix, then 2 to 12 letters or digits with at least
# one digit. The longest national part is the Dutch one, such as 123456789B01.
_VAT_NUMBER = re.compile(r"[A-Z]{2}(?=[0-9A-Z+*]*[0-9])[0-9A-Z+*]{2,12}")
_USERNAME = re.compile(r"[a-z0-9._@-]+")
# Deliberately loose: one @, no white space, and a domain with at least one dot.
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")

# Generated passwords avoid characters that read alike (0/O, 1/l/I), because an admin
# passes them on by phone or on paper. 16 characters of 56 give about 93 bits.
PASSWORD_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
PASSWORD_GROUPS = 4
PASSWORD_GROUP_LENGTH = 4


def generate_password() -> str:
    """Generate a random initial password such as 'Xk7p-2mQz-...' from the secrets module."""
    groups = (
        "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(PASSWORD_GROUP_LENGTH)) for _ in range(PASSWORD_GROUPS)
    )
    return "-".join(groups)


def _text(value: str | None) -> str:
    return " ".join((value or "").split())


def _check_required(problems: list[PortalError], code: str, value: str, maximum: int) -> None:
    if not value:
        problems.append(PortalError(f"{code}_missing"))
    elif len(value) > maximum:
        problems.append(PortalError(f"{code}_too_long", maximum=maximum))


def _audit(
    session: Session, action: str, admin_id: int, customer_id: int | None, object_type: str, object_id: int
) -> None:
    audit.record(
        session, action, actor_id=admin_id, customer_id=customer_id, object_type=object_type, object_id=object_id
    )


def _flush_unique(session: Session, error: PortalError) -> None:
    """Flush in a savepoint and turn a unique-constraint race into the given error."""
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Problems([error]) from None


# Customer companies ----------------------------------------------------------------


@dataclass(frozen=True)
class CustomerInput:
    """The company fields of the admin's form, as typed."""

    number: str
    name: str
    vat_number: str = ""
    country: str = ""
    language: str = "nl"
    # None or "" follows the portal-wide stock display setting.
    stock_display: str | None = None


@dataclass(frozen=True)
class _CleanCustomer:
    number: str
    name: str
    vat_number: str
    country: str
    language: str
    stock_display: StockDisplay | None


def normalize_vat_number(value: str) -> str:
    """Return a VAT number in upper case without spaces, dots or hyphens: 'nl 8.1' -> 'NL81'."""
    return re.sub(r"[\s.\-]", "", value).upper()


def _check_customer(session: Session, values: CustomerInput, customer_id: int | None) -> _CleanCustomer:
    problems: list[PortalError] = []
    number = _text(values.number)
    name = _text(values.name)
    vat_number = normalize_vat_number(values.vat_number or "")
    country = _text(values.country)

    _check_required(problems, "customer.number", number, MAX_CUSTOMER_NUMBER_LENGTH)
    if number and len(number) <= MAX_CUSTOMER_NUMBER_LENGTH:
        # Case-insensitive, so C001 and c001 never name two companies.
        taken = select(Customer.id).where(func.lower(Customer.number) == number.lower())
        if customer_id is not None:
            taken = taken.where(Customer.id != customer_id)
        if session.scalar(taken.limit(1)) is not None:
            problems.append(PortalError("customer.number_taken", number=number))
    _check_required(problems, "customer.name", name, MAX_NAME_LENGTH)
    if vat_number and (len(vat_number) > MAX_VAT_NUMBER_LENGTH or not _VAT_NUMBER.fullmatch(vat_number)):
        problems.append(PortalError("customer.vat_number_invalid", value=values.vat_number.strip()))
    if len(country) > MAX_COUNTRY_LENGTH:
        problems.append(PortalError("customer.country_too_long", maximum=MAX_COUNTRY_LENGTH))
    if values.language not in LANGUAGES:
        problems.append(PortalError("customer.language_invalid", value=values.language))
    stock_display = None
    if values.stock_display:
        try:
            stock_display = StockDisplay(values.stock_display)
        except ValueError:
            problems.append(PortalError("customer.stock_display_invalid", value=values.stock_display))
    if problems:
        raise Problems(problems)
    return _CleanCustomer(number, name, vat_number, country, values.language, stock_display)


def create_customer(session: Session, admin_id: int, values: CustomerInput) -> Customer:
    """Add a customer company that sees all active products at list prices, until an admin changes that."""
    clean = _check_customer(session, values, None)
    customer = Customer(
        number=clean.number,
        name=clean.name,
        vat_number=clean.vat_number,
        country=clean.country,
        language=clean.language,
        stock_display=clean.stock_display,
        assortment_mode=AssortmentMode.ALL,
        active=True,
    )
    session.add(customer)
    _flush_unique(session, PortalError("customer.number_taken", number=clean.number))
    _audit(session, "customer_created", admin_id, customer.id, "customer", customer.id)
    log.info("Admin %s created customer %s", admin_id, customer.id)
    return customer


def _customer(session: Session, customer_id: int) -> Customer:
    customer = session.get(Customer, customer_id, with_for_update=True)
    if customer is None:
        raise NotFound("customer")
    return customer


def update_customer(session: Session, admin_id: int, customer_id: int, values: CustomerInput) -> None:
    """Change a customer company's number, name, VAT number, country, language and stock display."""
    customer = _customer(session, customer_id)
    clean = _check_customer(session, values, customer_id)
    customer.number = clean.number
    customer.name = clean.name
    customer.vat_number = clean.vat_number
    customer.country = clean.country
    customer.language = clean.language
    customer.stock_display = clean.stock_display
    _flush_unique(session, PortalError("customer.number_taken", number=clean.number))
    _audit(session, "customer_updated", admin_id, customer_id, "customer", customer_id)
    log.info("Admin %s updated customer %s", admin_id, customer_id)


def deactivate_customer(session: Session, admin_id: int, customer_id: int) -> None:
    """Close a customer company: its users cannot sign in and their open sessions end."""
    customer = _customer(session, customer_id)
    customer.active = False
    user_ids = list(session.scalars(select(User.id).where(User.customer_id == customer_id)))
    for user_id in user_ids:
        accounts.revoke_cookies(session, user_id)
    _audit(session, "customer_deactivated", admin_id, customer_id, "customer", customer_id)
    log.info("Admin %s deactivated customer %s and ended the sessions of users %s", admin_id, customer_id, user_ids)


def reactivate_customer(session: Session, admin_id: int, customer_id: int) -> None:
    """Open a deactivated customer company again; its active users can sign in anew."""
    customer = _customer(session, customer_id)
    customer.active = True
    _audit(session, "customer_reactivated", admin_id, customer_id, "customer", customer_id)
    log.info("Admin %s reactivated customer %s", admin_id, customer_id)


@dataclass(frozen=True)
class CustomerRow:
    id: int
    number: str
    name: str
    active: bool


@dataclass(frozen=True)
class CustomerMatches:
    rows: list[CustomerRow]
    # Number of all matching customers; more than len(rows) when the search was cut off.
    total: int


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_customers(session: Session, query: str = "", limit: int = CUSTOMER_SEARCH_LIMIT) -> CustomerMatches:
    """Return customers, inactive ones too, whose number or name contains every word of the query.

    Ordered by number and cut off at `limit`, so thousands of customers stay quick to pick from.
    """
    condition = []
    for word in query.lower().split()[:10]:
        pattern = f"%{_escape_like(word)}%"
        condition.append(
            or_(
                func.lower(Customer.number).like(pattern, escape="\\"),
                func.lower(Customer.name).like(pattern, escape="\\"),
            )
        )
    total = session.scalar(select(func.count(Customer.id)).where(*condition)) or 0
    rows = session.execute(
        select(Customer.id, Customer.number, Customer.name, Customer.active)
        .where(*condition)
        .order_by(Customer.number, Customer.id)
        .limit(limit)
    )
    return CustomerMatches([CustomerRow(*row) for row in rows], total)


@dataclass(frozen=True)
class CustomerDetails:
    id: int
    number: str
    name: str
    vat_number: str
    country: str
    language: str
    stock_display: StockDisplay | None
    assortment_mode: AssortmentMode
    price_list_id: int | None
    discount_percent: Decimal
    active: bool


def get_customer(session: Session, customer_id: int) -> CustomerDetails:
    """Return a customer company's fields as the admin screens show them."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound("customer")
    return CustomerDetails(
        id=customer.id,
        number=customer.number,
        name=customer.name,
        vat_number=customer.vat_number,
        country=customer.country,
        language=customer.language,
        stock_display=customer.stock_display,
        assortment_mode=customer.assortment_mode,
        price_list_id=customer.price_list_id,
        discount_percent=customer.discount_percent,
        active=customer.active,
    )


# Delivery addresses -----------------------------------------------------------------


@dataclass(frozen=True)
class AddressInput:
    """The fields of a delivery address, as typed."""

    name: str
    street: str
    postcode: str
    city: str
    country: str
    is_default: bool = False


def _check_address(values: AddressInput) -> AddressInput:
    clean = AddressInput(
        name=_text(values.name),
        street=_text(values.street),
        postcode=_text(values.postcode).upper(),
        city=_text(values.city),
        country=_text(values.country),
        is_default=values.is_default,
    )
    problems: list[PortalError] = []
    _check_required(problems, "customer.address_name", clean.name, MAX_NAME_LENGTH)
    _check_required(problems, "customer.street", clean.street, MAX_STREET_LENGTH)
    _check_required(problems, "customer.postcode", clean.postcode, MAX_POSTCODE_LENGTH)
    _check_required(problems, "customer.city", clean.city, MAX_CITY_LENGTH)
    _check_required(problems, "customer.address_country", clean.country, MAX_COUNTRY_LENGTH)
    if problems:
        raise Problems(problems)
    return clean


def _active_addresses(session: Session, customer_id: int) -> list[Address]:
    return list(
        session.scalars(
            select(Address)
            .where(Address.customer_id == customer_id, Address.active.is_(True))
            .order_by(Address.id)
            .with_for_update()
        )
    )


def _make_default(session: Session, address: Address) -> None:
    """Make the address the customer's only default address."""
    for other in _active_addresses(session, address.customer_id):
        other.is_default = other.id == address.id
    address.is_default = True


def create_address(session: Session, admin_id: int, customer_id: int, values: AddressInput) -> Address:
    """Add a delivery address; it becomes the default when asked or when the customer has none."""
    _customer(session, customer_id)
    clean = _check_address(values)
    has_default = any(other.is_default for other in _active_addresses(session, customer_id))
    address = Address(
        customer_id=customer_id,
        name=clean.name,
        street=clean.street,
        postcode=clean.postcode,
        city=clean.city,
        country=clean.country,
        is_default=False,
        active=True,
    )
    session.add(address)
    session.flush()
    if clean.is_default or not has_default:
        _make_default(session, address)
    _audit(session, "address_created", admin_id, customer_id, "address", address.id)
    log.info("Admin %s created address %s of customer %s", admin_id, address.id, customer_id)
    return address


def _address(session: Session, address_id: int) -> Address:
    address = session.get(Address, address_id, with_for_update=True)
    if address is None or not address.active:
        raise NotFound("address")
    return address


def update_address(session: Session, admin_id: int, address_id: int, values: AddressInput) -> None:
    """Change a delivery address; ticking default moves the default to it.

    The default cannot be taken off the default address itself: the customer always has
    one, so the admin makes another address the default instead.
    """
    address = _address(session, address_id)
    clean = _check_address(values)
    if address.is_default and not clean.is_default:
        raise Problems([PortalError("customer.address_default_required")])
    address.name = clean.name
    address.street = clean.street
    address.postcode = clean.postcode
    address.city = clean.city
    address.country = clean.country
    if clean.is_default:
        _make_default(session, address)
    _audit(session, "address_updated", admin_id, address.customer_id, "address", address_id)
    log.info("Admin %s updated address %s of customer %s", admin_id, address_id, address.customer_id)


def deactivate_address(session: Session, admin_id: int, address_id: int) -> None:
    """Remove a delivery address from use; when it was the default, the oldest remaining one takes over.

    Orders keep their own copy of the address, so placed orders are not affected.
    """
    address = _address(session, address_id)
    address.active = False
    was_default = address.is_default
    address.is_default = False
    session.flush()
    remaining = _active_addresses(session, address.customer_id)
    if was_default and remaining:
        _make_default(session, remaining[0])
    _audit(session, "address_deactivated", admin_id, address.customer_id, "address", address_id)
    log.info("Admin %s deactivated address %s of customer %s", admin_id, address_id, address.customer_id)


@dataclass(frozen=True)
class AddressRow:
    id: int
    name: str
    street: str
    postcode: str
    city: str
    country: str
    is_default: bool


def list_customer_addresses(session: Session, customer_id: int) -> list[AddressRow]:
    """Return the customer's active delivery addresses with every field, the default first."""
    addresses = session.scalars(
        select(Address)
        .where(Address.customer_id == customer_id, Address.active.is_(True))
        .order_by(Address.is_default.desc(), Address.id)
    )
    return [AddressRow(a.id, a.name, a.street, a.postcode, a.city, a.country, a.is_default) for a in addresses]


# User accounts ----------------------------------------------------------------------


@dataclass(frozen=True)
class UserInput:
    """The fields of a new user account, as typed."""

    username: str
    name: str
    email: str
    role: str = Role.CUSTOMER.value
    # None takes the customer's language for customer users and the browser's for admins.
    language: str | None = None


@dataclass(frozen=True)
class NewPassword:
    """A generated password for a user; shown to the admin once and never stored in plain text."""

    user_id: int
    username: str
    password: str

    def __repr__(self) -> str:
        # Keeps the password out of logs and tracebacks that print this object.
        return f"NewPassword(user_id={self.user_id}, username={self.username!r}, password=<hidden>)"


def _check_user(session: Session, values: UserInput, customer_id: int | None) -> tuple[str, str, str, Role]:
    problems: list[PortalError] = []
    username = accounts.normalize_username(values.username)
    name = _text(values.name)
    email = values.email.strip()

    if not username:
        problems.append(PortalError("user.username_missing"))
    elif len(username) < MIN_USERNAME_LENGTH or len(username) > MAX_USERNAME_LENGTH:
        problems.append(
            PortalError("user_admin.username_length", minimum=MIN_USERNAME_LENGTH, maximum=MAX_USERNAME_LENGTH)
        )
    elif not _USERNAME.fullmatch(username):
        problems.append(PortalError("user_admin.username_invalid", username=username))
    elif session.scalar(select(User.id).where(User.username == username)) is not None:
        problems.append(PortalError("user.username_taken", username=username))
    _check_required(problems, "user_admin.name", name, MAX_NAME_LENGTH)
    if email and (len(email) > MAX_EMAIL_LENGTH or not _EMAIL.fullmatch(email)):
        problems.append(PortalError("user_admin.email_invalid", email=email))

    try:
        role = Role(values.role)
    except ValueError:
        problems.append(PortalError("user_admin.role_invalid", value=values.role))
        role = None
    if role is Role.CUSTOMER and customer_id is None:
        problems.append(PortalError("user.customer_missing"))
    # An admin works for the supplier. Tying one to a customer would let that customer's
    # deactivation lock the admin out, so admins belong to no company.
    if role is Role.ADMIN and customer_id is not None:
        problems.append(PortalError("user_admin.admin_with_customer"))
    if values.language is not None and values.language not in LANGUAGES:
        problems.append(PortalError("user_admin.language_invalid", value=values.language))
    if problems:
        raise Problems(problems)
    assert role is not None
    return username, name, email, role


def create_user_with_password(
    session: Session, admin_id: int, customer_id: int | None, values: UserInput
) -> NewPassword:
    """Add a user with a generated initial password and return that password, once."""
    customer = None
    if customer_id is not None:
        customer = session.get(Customer, customer_id)
        if customer is None:
            raise NotFound("customer")
    username, name, email, role = _check_user(session, values, customer_id)
    language = values.language or (customer.language if customer is not None else None)

    password = generate_password()
    try:
        # A savepoint, so a second admin taking the username at the same moment gets the
        # usual message instead of a failed transaction.
        with session.begin_nested():
            user = accounts.create_user(
                session,
                username=username,
                name=name,
                password=password,
                role=role,
                customer_id=customer_id,
                email=email,
                language=language,
            )
    except IntegrityError:
        raise Problems([PortalError("user.username_taken", username=username)]) from None
    _audit(session, "user_created", admin_id, customer_id, "user", user.id)
    log.info("Admin %s created user %s (role %s) for customer %s", admin_id, user.id, role.value, customer_id)
    return NewPassword(user.id, user.username, password)


def _user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id, with_for_update=True)
    if user is None:
        raise NotFound("user")
    return user


def _refuse_own_account(admin_id: int, user_id: int, code: str) -> None:
    if admin_id == user_id:
        raise Problems([PortalError(code)])


def reset_password(session: Session, admin_id: int, user_id: int) -> NewPassword:
    """Give a user a new generated password, end their sessions and return the password, once."""
    _refuse_own_account(admin_id, user_id, "user_admin.reset_own_password")
    user = _user(session, user_id)
    password = generate_password()
    accounts.validate_new_password(user.username, password)
    user.password_hash = accounts.hash_password(password)
    accounts.revoke_cookies(session, user.id)
    _audit(session, "password_reset", admin_id, user.customer_id, "user", user_id)
    log.info("Admin %s reset the password of user %s", admin_id, user_id)
    return NewPassword(user.id, user.username, password)


def unlock_user(session: Session, admin_id: int, user_id: int) -> None:
    """Lift a user's sign-in lockout after too many failed attempts."""
    user = _user(session, user_id)
    accounts.unlock(session, user.username, admin_id)
    log.info("Admin %s unlocked user %s", admin_id, user_id)


def deactivate_user(session: Session, admin_id: int, user_id: int) -> None:
    """Stop a user from signing in and end their sessions and cookies at once."""
    _refuse_own_account(admin_id, user_id, "user_admin.deactivate_self")
    user = _user(session, user_id)
    user.active = False
    accounts.revoke_cookies(session, user.id)
    _audit(session, "user_deactivated", admin_id, user.customer_id, "user", user_id)
    log.info("Admin %s deactivated user %s", admin_id, user_id)


def reactivate_user(session: Session, admin_id: int, user_id: int) -> None:
    """Let a deactivated user sign in again with their password; old cookies stay invalid."""
    user = _user(session, user_id)
    user.active = True
    _audit(session, "user_reactivated", admin_id, user.customer_id, "user", user_id)
    log.info("Admin %s reactivated user %s", admin_id, user_id)


@dataclass(frozen=True)
class UserRow:
    id: int
    username: str
    name: str
    email: str
    role: Role
    language: str | None
    # active, locked or deactivated
    status: str


def list_users(session: Session, customer_id: int | None) -> list[UserRow]:
    """Return a customer's users, or with None the supplier's admins, with their sign-in status."""
    statement = select(User).order_by(User.username)
    if customer_id is None:
        statement = statement.where(User.customer_id.is_(None), User.role == Role.ADMIN)
    else:
        statement = statement.where(User.customer_id == customer_id)
    rows = []
    for user in session.scalars(statement):
        if not user.active:
            status = "deactivated"
        elif accounts.locked_until(session, user.username) is not None:
            status = "locked"
        else:
            status = "active"
        rows.append(UserRow(user.id, user.username, user.name, user.email, user.role, user.language, status))
    return rows

"""Copy product names into assortment_items, so a customer's selection is indexed in name order.

A selection customer's catalogue page used to walk every product in name order, or read
the whole selection and sort it. With the name beside the customer id, one index range
gives the page in order. Triggers keep the copy equal to products.name.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_SQLITE_TRIGGERS = {
    # Fix the copy after any insert or update of an item that does not carry the product's name.
    "assortment_items_name_insert": (
        "CREATE TRIGGER assortment_items_name_insert AFTER INSERT ON assortment_items "
        "WHEN new.product_name IS NOT (SELECT name FROM products WHERE id = new.product_id) BEGIN "
        "UPDATE assortment_items SET product_name = (SELECT name FROM products WHERE id = new.product_id) "
        "WHERE customer_id = new.customer_id AND product_id = new.product_id; END"
    ),
    "assortment_items_name_update": (
        "CREATE TRIGGER assortment_items_name_update AFTER UPDATE OF product_id, product_name ON assortment_items "
        "WHEN new.product_name IS NOT (SELECT name FROM products WHERE id = new.product_id) BEGIN "
        "UPDATE assortment_items SET product_name = (SELECT name FROM products WHERE id = new.product_id) "
        "WHERE customer_id = new.customer_id AND product_id = new.product_id; END"
    ),
    "products_name_to_assortment": (
        "CREATE TRIGGER products_name_to_assortment AFTER UPDATE OF name ON products "
        "WHEN new.name IS NOT old.name BEGIN "
        "UPDATE assortment_items SET product_name = new.name WHERE product_id = new.id; END"
    ),
}

# On PostgreSQL the copy is read FOR SHARE, which waits for a rename of the product that is
# still in progress and then reads the committed name. A rename that starts later waits for
# the item's transaction, and its trigger then sees the new item.
_POSTGRESQL_STATEMENTS = [
    "CREATE FUNCTION assortment_items_copy_product_name() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN "
    "SELECT name INTO NEW.product_name FROM products WHERE id = NEW.product_id FOR SHARE; "
    "RETURN NEW; "
    "END $$",
    "CREATE TRIGGER assortment_items_product_name BEFORE INSERT OR UPDATE OF product_id, product_name "
    "ON assortment_items FOR EACH ROW EXECUTE FUNCTION assortment_items_copy_product_name()",
    "CREATE FUNCTION products_copy_name_to_assortment() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN "
    "UPDATE assortment_items SET product_name = NEW.name WHERE product_id = NEW.id; "
    "RETURN NULL; "
    "END $$",
    "CREATE TRIGGER products_name_to_assortment AFTER UPDATE OF name ON products "
    "FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name) EXECUTE FUNCTION products_copy_name_to_assortment()",
]


def upgrade() -> None:
    with op.batch_alter_table("assortment_items") as batch_op:
        batch_op.add_column(sa.Column("product_name", sa.String(length=300), nullable=True))
    op.execute("UPDATE assortment_items SET product_name = (SELECT name FROM products WHERE products.id = product_id)")
    op.create_index(
        "ix_assortment_items_customer_name", "assortment_items", ["customer_id", "product_name", "product_id"]
    )
    if op.get_bind().dialect.name == "sqlite":
        for statement in _SQLITE_TRIGGERS.values():
            op.execute(statement)
    else:
        for statement in _POSTGRESQL_STATEMENTS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in _SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    else:
        op.execute("DROP TRIGGER IF EXISTS products_name_to_assortment ON products")
        op.execute("DROP TRIGGER IF EXISTS assortment_items_product_name ON assortment_items")
        op.execute("DROP FUNCTION IF EXISTS products_copy_name_to_assortment()")
        op.execute("DROP FUNCTION IF EXISTS assortment_items_copy_product_name()")
    op.drop_index("ix_assortment_items_customer_name", table_name="assortment_items")
    with op.batch_alter_table("assortment_items") as batch_op:
        batch_op.drop_column("product_name")

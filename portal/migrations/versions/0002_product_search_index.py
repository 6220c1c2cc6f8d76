"""Add the product search index.

SQLite gets an FTS5 trigram table over products.search_text, kept in step by triggers;
PostgreSQL gets a pg_trgm GIN index, which serves LIKE '%term%' without a scan.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE products_fts USING fts5("
            "search_text, content='products', content_rowid='id', tokenize='trigram')"
        )
        op.execute(
            "CREATE TRIGGER products_fts_insert AFTER INSERT ON products BEGIN "
            "INSERT INTO products_fts(rowid, search_text) VALUES (new.id, new.search_text); END"
        )
        op.execute(
            "CREATE TRIGGER products_fts_delete AFTER DELETE ON products BEGIN "
            "INSERT INTO products_fts(products_fts, rowid, search_text) VALUES ('delete', old.id, old.search_text); END"
        )
        op.execute(
            "CREATE TRIGGER products_fts_update AFTER UPDATE OF search_text ON products BEGIN "
            "INSERT INTO products_fts(products_fts, rowid, search_text) VALUES ('delete', old.id, old.search_text); "
            "INSERT INTO products_fts(rowid, search_text) VALUES (new.id, new.search_text); END"
        )
        op.execute("INSERT INTO products_fts(products_fts) VALUES ('rebuild')")
    else:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute("CREATE INDEX ix_products_search_text_trgm ON products USING gin (search_text gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("products_fts_insert", "products_fts_delete", "products_fts_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS products_fts")
    else:
        op.execute("DROP INDEX IF EXISTS ix_products_search_text_trgm")

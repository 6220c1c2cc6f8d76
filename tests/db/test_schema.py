from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from portal.db import include_in_autogenerate, pending_migrations
from portal.models import Base


def test_migrated_schema_matches_models(database):
    with database.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": include_in_autogenerate}
        )
        differences = compare_metadata(context, Base.metadata)

    assert differences == []


def test_no_migration_pending(database):
    assert pending_migrations(database.engine) is False

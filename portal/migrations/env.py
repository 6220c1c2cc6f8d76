"""Alembic environment: runs migrations on the engine that portal.db passes in."""

from alembic import context

from portal.db import WRITE_OPTION, create_portal_engine, include_in_autogenerate
from portal.models import Base

target_metadata = Base.metadata


def run_migrations() -> None:
    engine = context.config.attributes.get("engine")
    if engine is None:
        # Run from the alembic command line: use the configured database.
        from portal.config import load_config

        engine = create_portal_engine(load_config().database_url)

    with engine.execution_options(**{WRITE_OPTION: True}).connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            include_object=include_in_autogenerate,
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations()

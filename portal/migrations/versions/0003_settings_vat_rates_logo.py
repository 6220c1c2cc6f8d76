"""Add allowed VAT rates and a logo to the supplier settings.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("supplier_settings") as batch_op:
        batch_op.add_column(sa.Column("vat_rates", sa.String(length=100), nullable=False, server_default="21,9,0"))
        batch_op.add_column(sa.Column("logo", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("logo_content_type", sa.String(length=50), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("supplier_settings") as batch_op:
        batch_op.drop_column("logo_content_type")
        batch_op.drop_column("logo")
        batch_op.drop_column("vat_rates")

"""session versions and customer login throttle

Admins and customers get a session version, kept in their sessions and remember cookies and
bumped at logout and by a new password, so a cookie copied before then stops working. The
login failures table, until now the admins', gets a realm: customers' failed logins are
throttled the same way.

Revision ID: 5c1e7a9d3b64
Revises: 3f5e8a2c1d47
Create Date: 2026-12-03 10:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5c1e7a9d3b64'
down_revision = '3f5e8a2c1d47'
branch_labels = None
depends_on = None


def upgrade(engine_name: str) -> None:
    globals()[f"upgrade_{engine_name}"]()


def downgrade(engine_name: str) -> None:
    globals()[f"downgrade_{engine_name}"]()


def upgrade_shop():
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_version', sa.Integer(), server_default='0',
                                      nullable=False))
    with op.batch_alter_table('admin_users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_version', sa.Integer(), server_default='0',
                                      nullable=False))
    with op.batch_alter_table('admin_login_failures', schema=None) as batch_op:
        batch_op.add_column(sa.Column('realm', sa.String(length=16), server_default='admin',
                                      nullable=False))


def downgrade_shop():
    with op.batch_alter_table('admin_login_failures', schema=None) as batch_op:
        batch_op.drop_column('realm')
    with op.batch_alter_table('admin_users', schema=None) as batch_op:
        batch_op.drop_column('session_version')
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_column('session_version')


def upgrade_journeys():
    pass


def downgrade_journeys():
    pass

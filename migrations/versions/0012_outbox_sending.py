"""sending the outbox

Each message's sending state (checkout.mail, `flask orders send-mail`): when it may be
tried next, when it was sent, how many tries, and why it was not. Messages recorded before
this are the outbox's only: none waits to be sent (send_after stays NULL), so turning mail
on does not send old shipping updates.

Revision ID: 3a7c9e1f5b20
Revises: 8d2f4b6a1c93
Create Date: 2026-12-07 11:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '3a7c9e1f5b20'
down_revision = '8d2f4b6a1c93'
branch_labels = None
depends_on = None


def upgrade(engine_name: str) -> None:
    globals()[f"upgrade_{engine_name}"]()


def downgrade(engine_name: str) -> None:
    globals()[f"downgrade_{engine_name}"]()


def upgrade_shop():
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('send_after', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('sent_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), server_default='0',
                                      nullable=False))
        batch_op.add_column(sa.Column('error', sa.String(length=200), nullable=True))
        batch_op.create_index(batch_op.f('ix_outbox_messages_send_after'), ['send_after'],
                              unique=False)


def downgrade_shop():
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_messages_send_after'))
        batch_op.drop_column('error')
        batch_op.drop_column('attempts')
        batch_op.drop_column('sent_at')
        batch_op.drop_column('send_after')


def upgrade_journeys():
    pass


def downgrade_journeys():
    pass

"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}

"""
from alembic import op
import sqlalchemy as sa
${imports if imports else ""}

# revision identifiers, used by Alembic.
revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}


def upgrade(engine_name: str) -> None:
    globals()[f"upgrade_{engine_name}"]()


def downgrade(engine_name: str) -> None:
    globals()[f"downgrade_{engine_name}"]()


def upgrade_shop():
    ${context.get("shop_upgrades", "pass")}


def downgrade_shop():
    ${context.get("shop_downgrades", "pass")}


def upgrade_journeys():
    ${context.get("journeys_upgrades", "pass")}


def downgrade_journeys():
    ${context.get("journeys_downgrades", "pass")}

"""The benchmarks' scratch PostgreSQL databases: named *bench*, never a real one."""

from __future__ import annotations

import re
import sys

PROTECTED = {"postgres", "template0", "template1", "test", "tp_dev"}


def check_name(name: str) -> None:
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name) or name in PROTECTED \
            or "bench" not in name:
        sys.exit(f"refusing database name {name!r}: use a name containing 'bench'")


def pg_url(admin_url: str, name: str, driver: str = "postgresql") -> str:
    base = admin_url.rsplit("/", 1)[0] + "/" + name
    return base.replace("postgresql://", driver + "://", 1)


def pg_recreate(admin_url: str, name: str, drop_only: bool = False) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))
        if not drop_only:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

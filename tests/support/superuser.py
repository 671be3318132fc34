"""What a database superuser can do to the decision log whatever its protections."""

from __future__ import annotations

from typing import Any

import psycopg


def as_superuser(database_url: str, *statements: tuple[str, tuple[Any, ...]]) -> None:
    """Switch the log's triggers off, run the statements, switch them on again."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE promotion.decision_log DISABLE TRIGGER USER")
        try:
            for statement, params in statements:
                conn.execute(statement, params)
        finally:
            conn.execute("ALTER TABLE promotion.decision_log ENABLE TRIGGER USER")

"""Where a text is left in a service's schema: what an erasure is checked against."""

from __future__ import annotations

import psycopg
from psycopg import sql


def columns_holding(database_url: str, schema: str, text: str) -> list[str]:
    """Every `table.column` of `schema` whose text, JSON, array or bytes hold `text`, read
    with `database_url`'s rights (an owner's or administrator's: every table)."""
    found = []
    with psycopg.connect(database_url) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = %s AND data_type IN ('text', 'character varying', 'jsonb', "
            "'json', 'bytea', 'ARRAY')",
            (schema,),
        ).fetchall()
        for table, column, kind in columns:
            t, c = sql.Identifier(schema, table), sql.Identifier(column)
            where = (
                sql.SQL("position(convert_to(%s, 'UTF8') in {}) > 0").format(c)
                if kind == "bytea"
                else sql.SQL("strpos({}::text, %s) > 0").format(c)
            )
            query = sql.SQL("SELECT count(*) FROM {} WHERE {}").format(t, where)
            row = conn.execute(query, (text,)).fetchone()
            if row and row[0]:
                found.append(f"{table}.{column}")
    return found

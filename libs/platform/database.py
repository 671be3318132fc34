"""How a service connects to PostgreSQL: as its own role, with server-side time limits."""

from __future__ import annotations

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from libs.platform.settings import Settings


def service_conninfo(settings: Settings) -> str:
    """The service's connection string, with a statement timeout and an idle-in-transaction
    timeout set for every connection made with it (pool, relay listener, notifier).

    A stuck statement, or a transaction a hung client left open, would otherwise hold its
    locks and its connection indefinitely.
    """
    url = settings.require_database_url()
    limits = (
        f"-c statement_timeout={_ms(settings.database_statement_timeout)} "
        f"-c idle_in_transaction_session_timeout="
        f"{_ms(settings.database_idle_in_transaction_timeout)}"
    )
    given = conninfo_to_dict(url).get("options")
    options = f"{given} {limits}" if given else limits
    return make_conninfo(url, options=options)


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))

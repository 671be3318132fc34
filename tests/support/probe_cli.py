"""The `talentledger` command line with the tests' probe events registered.

The relay publishes only event types it knows (see libs.events.relay), so a relay run as
its own process over a log of probe events must know them too:
`python -m tests.support.probe_cli events relay --schema svc`.
"""

from __future__ import annotations

import tests.support.events  # noqa: F401 - registers the probe event types
from talentledger.cli import app

if __name__ == "__main__":
    app()

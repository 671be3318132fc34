"""Drive a whole TalentLedger stack the way a user does: the CLI, HTTP and tokens."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support import leftovers

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class RunningStack:
    home: Path
    env: dict[str, str]

    def cli(self, *args: str, timeout: float = 180) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "talentledger.cli", *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert done.returncode == 0, (
            f"talentledger {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
        )
        return done.stdout

    @property
    def state(self) -> dict[str, Any]:
        return json.loads((self.home / "stack.json").read_text())

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.state['services'][service]['port']}"

    def token(self, role: str, sub: str) -> dict[str, str]:
        token = self.cli("token", "--role", role, "--sub", sub).strip()
        return {"Authorization": f"Bearer {token}"}

    def wait_for(self, check: Any, timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if result := check():
                return result
            time.sleep(0.25)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")

    def get(self, service: str, path: str, headers: dict[str, str]) -> httpx.Response:
        return httpx.get(self.url(service) + path, headers=headers, timeout=10)


@contextmanager
def running_stack(**env: str) -> Iterator[RunningStack]:
    """`talentledger up` in a fresh home (outside pytest's private tmp dirs), `down` after."""
    home = Path(tempfile.mkdtemp(prefix="talentledger-e2e-"))
    home.chmod(0o755)
    leftovers.claim(home)
    stack = RunningStack(home, {**os.environ, "TALENTLEDGER_HOME": str(home), **env})
    try:
        stack.cli("up")
        yield stack
    finally:
        try:
            stack.cli("down")
        finally:
            shutil.rmtree(home, ignore_errors=True)

"""Drive a whole TalentLedger stack the way a user does: the CLI, HTTP and tokens."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx

from tests.support import leftovers
from tests.support.progress import Stall

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class RunningStack:
    home: Path
    env: dict[str, str]

    def cli(self, *args: str, stall: float = 180) -> str:
        """`talentledger <args>`'s output; fails when the command does, or when `stall` seconds
        pass in which neither its output nor the stack's `activity` grew (see `wait_for`)."""
        command = f"talentledger {' '.join(args)}"
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            process = subprocess.Popen(
                [sys.executable, "-m", "talentledger.cli", *args],
                env=self.env,
                cwd=ROOT,
                stdout=out,
                stderr=err,
            )
            try:
                self.wait_for(
                    lambda: process.poll() is not None,
                    stall,
                    command,
                    progress=lambda: (_size(out), _size(err)),
                )
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read().decode(), err.read().decode()
        assert process.returncode == 0, f"{command} failed:\n{stdout}\n{stderr}"
        return stdout

    @property
    def state(self) -> dict[str, Any]:
        return json.loads((self.home / "stack.json").read_text())

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.state['services'][service]['port']}"

    def token(self, role: str, sub: str) -> dict[str, str]:
        token = self.cli("token", "--role", role, "--sub", sub).strip()
        return {"Authorization": f"Bearer {token}"}

    def wait_for(
        self,
        check: Callable[[], Any],
        stall: float,
        what: str,
        progress: Callable[[], object] = lambda: None,
    ) -> Any:
        """Poll `check` until its answer is truthy, and return that answer.

        Fails only after `stall` seconds in which neither the answer, nor the stack's
        `activity`, nor `progress` (anything else that moves while all is well) changed
        (tests/support/progress.py).
        """
        stalled = Stall(stall, what)
        while not (result := check()):
            stalled.watch(result, self.activity(), progress())
            time.sleep(0.25)
        return result

    @property
    def traces(self) -> Path:
        """Where the services write their spans, a file per process."""
        return Path(self.env.get("TALENTLEDGER_TRACE_DIR") or self.home / "traces")

    def activity(self) -> int:
        """How much the stack has logged and traced: it grows while it starts and while any
        service works (requests, workflow activities, relays, consumers)."""
        files = [*self.traces.glob("*.jsonl"), *(self.home / "logs").glob("*.log")]
        return sum(file.stat().st_size for file in files)

    def get(self, service: str, path: str, headers: dict[str, str]) -> httpx.Response:
        return httpx.get(self.url(service) + path, headers=headers, timeout=10)


def _size(file: IO[bytes]) -> int:
    return os.fstat(file.fileno()).st_size


@contextmanager
def running_stack(*up: str, **env: str) -> Iterator[RunningStack]:
    """`talentledger up` (with the options `up`) in a fresh home (outside pytest's private tmp
    dirs), `down` after."""
    home = Path(tempfile.mkdtemp(prefix="talentledger-e2e-"))
    home.chmod(0o755)
    leftovers.claim(home)
    stack = RunningStack(home, {**os.environ, "TALENTLEDGER_HOME": str(home), **env})
    try:
        stack.cli("up", *up)
        yield stack
    finally:
        try:
            stack.cli("down")
        finally:
            shutil.rmtree(home, ignore_errors=True)

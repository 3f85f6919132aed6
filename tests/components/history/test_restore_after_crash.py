"""SIGKILL mid-ingest, restart: the history is intact and nothing acknowledged is missing.

Runs ``benchmarks/crash.py`` briefly (it starts ``opencrate serve`` twice as a
child process, which is why this test is marked slow).
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import trio

from tests.harness import REPO_ROOT

pytestmark = pytest.mark.slow

SCRIPT = REPO_ROOT / "benchmarks" / "crash.py"


async def test_sigkill_loses_nothing_acknowledged() -> None:
    result = await trio.run_process(
        [sys.executable, str(SCRIPT), "--seconds", "1.5", "--writers", "2", "--batch", "200"],
        capture_stdout=True,
        stderr=subprocess.STDOUT,
        check=False,
    )
    output = result.stdout.decode()
    assert result.returncode == 0, output
    assert "PRAGMA integrity_check: ok" in output
    assert "acknowledged but missing: 0;" in output
    assert "quarantined stores: none" in output
    acknowledged = int(output.split("acknowledged: ")[1].split(" ")[0].replace(",", ""))
    assert acknowledged > 0

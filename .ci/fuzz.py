"""Fuzz the API from its own OpenAPI document: a bounded schemathesis run against the demo.

    python .ci/fuzz.py                  # as .ci/run does
    FUZZ_MAX_EXAMPLES=50 python .ci/fuzz.py
    FUZZ_HEADER="Authorization: Bearer <token>" python .ci/fuzz.py

Starts ``opencrate serve --demo`` on a free port with a throwaway data
directory (destructive operations are fine there), waits for
``/api/health``, and runs ``schemathesis run <url>/api/openapi.json`` with the
checks ``not_a_server_error``, ``response_schema_conformance`` and
``status_code_conformance``. Exits non-zero on any 5xx or any answer that does
not match its declared schema, and prints the counts (operations, test cases,
time).

Credentials: ``FUZZ_HEADER`` (``Name: value``) is passed through to every
request. When the demo wrote an admin token to ``<data>/demo-admin.token``,
the document is fetched and the run authenticated with it (with
schemathesis's ``ignored_auth`` check: each protected operation is also sent
without the token and must be refused), and a third pass without any
credentials expects every protected operation to answer 401 or 403
(``refused_without_credentials`` in ``.ci/fuzz_hooks.py``).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

CHECKS = (
    "not_a_server_error,response_schema_conformance,status_code_conformance,"
    "content_type_conformance"
)
MAX_EXAMPLES = os.environ.get("FUZZ_MAX_EXAMPLES", "10")
MAX_TIME_S = os.environ.get("FUZZ_MAX_TIME", "60")
START_TIMEOUT_S = 60.0
HERE = Path(__file__).resolve().parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_healthy(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"fuzz: the demo server exited with {server.returncode} before it served")
        try:
            with urllib.request.urlopen(f"{base}/api/health", timeout=2) as response:
                if json.load(response).get("status") == "ok":
                    return
        except (urllib.error.URLError, OSError, ValueError):
            pass
        time.sleep(0.25)
    sys.exit(f"fuzz: the demo server was not healthy within {START_TIMEOUT_S:.0f} s")


def _fetch_document(base: str, token: str | None, path: Path) -> Path:
    """The OpenAPI document, saved to ``path`` (it needs a login like any other route)."""
    request = urllib.request.Request(f"{base}/api/openapi.json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        path.write_bytes(response.read())
    return path


def _schemathesis(
    base: str,
    document: Path,
    headers: list[str],
    checks: str,
    label: str,
    mode: str,
    cwd: str,
) -> tuple[int, str]:
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        str(document),
        "--url",
        base,
        "--checks",
        checks,
        "--max-examples",
        MAX_EXAMPLES,
        "--max-time",
        MAX_TIME_S,
        "--seed",
        os.environ.get("FUZZ_SEED", "1"),
        "--workers",
        "2",
        "--request-timeout",
        "10",
        "--suppress-health-check",
        "all",
        "--mode",
        mode,
        # The coverage phase's generator reports "inconsistent results" when a
        # destructive case changed the demo between its two runs; fuzzing and
        # stateful runs cover the same operations.
        "--phases",
        "examples,fuzzing,stateful",
    ]
    for header in headers:
        command += ["--header", header]
    print(f"== fuzz ({label}): {' '.join(command[2:])}", flush=True)
    started = time.monotonic()
    # In the temporary directory: schemathesis keeps a .schemathesis cache in its cwd.
    # Our own checks (.ci/fuzz_hooks.py) are loaded by module name from this directory.
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "fuzz_hooks",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
    }
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=cwd, env=env)
    output = done.stdout + done.stderr
    print(output)
    print(f"-- fuzz ({label}): exit {done.returncode} in {time.monotonic() - started:.0f} s")
    return done.returncode, output


def _counts(output: str) -> str:
    # schemathesis's summary: "Tested: 40", "5729 generated, ...", "... in 90.07s ===".
    lines = output.splitlines()
    found = [line.strip() for line in lines if re.match(r"\s*(Tested:|\d+ generated)", line)]
    found += [line.strip("= ") for line in lines if re.search(r" in [\d.]+s =+$", line)]
    return "\n".join(found)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="opencrate-fuzz.") as tmp:
        data = Path(tmp) / "demo"
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        log = (Path(tmp) / "server.log").open("wb")
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "opencrate",
                "serve",
                "--demo",
                "--data",
                str(data),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_healthy(base, server)
            headers = [os.environ["FUZZ_HEADER"]] if os.environ.get("FUZZ_HEADER") else []
            token_file = data / "demo-admin.token"
            token = token_file.read_text().strip() if token_file.exists() else None
            if token:
                headers.append(f"Authorization: Bearer {token}")
            # ignored_auth: each protected operation is also sent without the token
            # and must answer 401 or 403.
            checks = f"{CHECKS},ignored_auth" if token else CHECKS
            who = "as admin" if token else "open"
            document = _fetch_document(base, token, Path(tmp) / "openapi.json")
            status, output = _schemathesis(
                base, document, headers, checks, f"{who}, valid", "positive", tmp
            )
            summary = [(f"{who}, valid requests", _counts(output))]
            # Invalid requests: never a 5xx. (Their answers are not checked against
            # the schemas: an id with a bad extension name is another route's
            # path, /api/history/{point_id}, and answers that route's shape.)
            bad_status, bad_output = _schemathesis(
                base, document, headers, "not_a_server_error", f"{who}, invalid", "negative", tmp
            )
            status = status or bad_status
            summary.append((f"{who}, invalid requests", _counts(bad_output)))
            if token:
                # Without credentials: every protected operation is refused (401/403),
                # valid request or not, and nothing fails with a 5xx.
                anon_status, anon_output = _schemathesis(
                    base,
                    document,
                    [],
                    "not_a_server_error,refused_without_credentials",
                    "no token",
                    "all",
                    tmp,
                )
                status = status or anon_status
                summary.append(("unauthenticated", _counts(anon_output)))
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
            log.close()
        server_log = (Path(tmp) / "server.log").read_text(errors="replace")
        if os.environ.get("FUZZ_SERVER_LOG"):
            Path(os.environ["FUZZ_SERVER_LOG"]).write_text(server_log)
        if status or server.returncode not in (0, -15, None):
            print("== the demo server's log (its end):")
            print(server_log[-6000:])
    for label, counts in summary:
        print(f"== fuzz summary ({label}):\n{counts}")
    return status


if __name__ == "__main__":
    sys.exit(main())

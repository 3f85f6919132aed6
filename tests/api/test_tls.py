"""HTTPS with hypercorn's certfile/keyfile: a self-signed pair made here with ``openssl``."""

from __future__ import annotations

import shutil
import ssl
from pathlib import Path

import httpx
import pytest
import trio
from asyncclick.testing import CliRunner

from opencrate.api.app import create_app
from opencrate.api.server import serve_api
from opencrate.app import Services
from opencrate.cli.main import cli
from opencrate.errors import ConfigError
from tests.conftest import require_program
from tests.harness import serving

OPENSSL = shutil.which("openssl")


@pytest.fixture
async def cert_pair(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key (PEM)."""
    openssl = require_program("openssl", OPENSSL)
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    await trio.run_process(
        [
            openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", str(key), "-out", str(cert),
        ],
        capture_stdout=True,
        capture_stderr=True,
    )  # fmt: skip
    return cert, key


async def _refused(services: Services, certfile: Path, keyfile: Path) -> None:
    """Serve with this pair, which must be refused before anything listens."""
    await serve_api(
        create_app(services),
        host="127.0.0.1",
        port=0,
        certfile=certfile,
        keyfile=keyfile,
        shutdown_trigger=trio.sleep_forever,
    )
    raise AssertionError("served with a bad certificate pair")


async def test_the_api_serves_https_with_the_certificate_and_hsts(
    services: Services, cert_pair: tuple[Path, Path]
) -> None:
    cert, key = cert_pair
    trust = ssl.create_default_context(cafile=str(cert))
    async with serving(services, certfile=cert, keyfile=key) as url:
        assert url.startswith("https://127.0.0.1:")
        async with httpx.AsyncClient(base_url=url, verify=trust) as http:
            response = await http.get("/api/health")
            assert response.status_code == 200
            assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
            assert response.headers["X-Frame-Options"] == "DENY"
        # A client that does not trust the certificate gets no answer.
        async with httpx.AsyncClient(base_url=url) as untrusting:
            with pytest.raises(httpx.ConnectError):
                await untrusting.get("/api/health")


async def test_bad_tls_files_are_a_config_error_naming_the_setting(
    services: Services, cert_pair: tuple[Path, Path], tmp_path: Path
) -> None:
    cert, key = cert_pair
    missing = tmp_path / "nope.pem"
    with pytest.raises(ConfigError, match=r"^\[server\.certfile\]: no such file: .*nope\.pem$"):
        await _refused(services, missing, key)
    with pytest.raises(ConfigError, match=r"^\[server\.keyfile\]: no such file"):
        await _refused(services, cert, missing)
    with pytest.raises(
        ConfigError, match=r"^\[server\.certfile\]: cannot use .*cert\.pem with key"
    ):
        await _refused(services, cert, cert)  # a certificate is not a key


async def test_serve_with_a_missing_certificate_exits_1_before_starting(tmp_path: Path) -> None:
    data = tmp_path / "d"
    missing = tmp_path / "cert.pem"
    args = ["serve", "--data", str(data), "--port", "0", "--certfile", str(missing)]
    result = await CliRunner().invoke(cli, [*args, "--keyfile", str(missing)])
    assert result.exit_code == 1
    assert f"Error: [server.certfile]: no such file: {missing}" in result.output
    assert not data.exists()  # refused before the stores were made
    alone = await CliRunner().invoke(cli, args)
    assert alone.exit_code == 2
    assert "--certfile and --keyfile go together" in alone.output

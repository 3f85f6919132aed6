"""Property routes: JSON values, raw bytes, streamed blob download, delete, bad input."""

from __future__ import annotations

import hashlib

import trio
from quart.typing import TestClientProtocol as Client

from opencrate.api.access import JSON
from opencrate.app import Services
from opencrate.components.audit.store import AuditStore
from opencrate.components.properties.store import PropertyStore
from opencrate.components.properties.values import BlobRef

URL = "/api/properties/devices/1001/firmware"


async def test_json_value_round_trip_and_delete(client: Client, services: Services) -> None:
    url = "/api/properties/devices/1001/setpoints"
    response = await client.put(url, json={"value": {"occupied": 21.5, "modes": ["eco"]}})
    assert response.status_code == 200
    got = await (await client.get(url)).get_json()
    assert got == {
        "context": "devices/1001",
        "name": "setpoints",
        "kind": "json",
        "value": {"occupied": 21.5, "modes": ["eco"]},
    }
    assert (await client.put(url, json={"value": None})).status_code == 200
    assert (await (await client.get(url)).get_json())["value"] is None
    assert (await client.delete(url)).status_code == 200
    assert (await client.get(url)).status_code == 404
    actions = [e.action for e in await services.get(AuditStore).tail(limit=10)]
    assert actions == ["property.delete", "property.put", "property.put"]


async def test_large_bytes_are_a_reference_and_the_blob_streams_in_chunks(
    client: Client, services: Services
) -> None:
    data = bytes(range(256)) * 800 + b"end"  # 204,803 bytes: 4 blocks of 64 KiB
    response = await client.put(
        URL, data=data, headers={"Content-Type": "application/octet-stream"}
    )
    assert response.status_code == 200
    described = await response.get_json()
    assert described["kind"] == "blob"
    assert described["size"] == len(data)
    assert described["sha256"] == hashlib.sha256(data).hexdigest()
    assert described["blob_url"] == URL + "/blob"
    assert "value" not in described
    assert isinstance(services.get(PropertyStore).get("devices/1001", "firmware"), BlobRef)
    # A streaming connection sees the body arrive as the server sends it.
    chunks: list[bytes] = []
    async with client.request(URL + "/blob") as connection:
        await connection.send_complete()
        while True:
            try:
                chunk = await connection.receive()
            except trio.EndOfChannel:
                break
            if chunk:  # the final ASGI message has an empty body
                chunks.append(chunk)
    assert [len(c) for c in chunks] == [65536, 65536, 65536, 8195]
    assert b"".join(chunks) == data
    download = await client.get(URL + "/blob")
    assert download.status_code == 200
    assert download.mimetype == "application/octet-stream"
    assert download.headers["Content-Length"] == str(len(data))
    assert await download.get_data() == data


async def test_small_bytes_are_described_and_downloadable(client: Client) -> None:
    put = await client.put(
        URL, data=b"\x00\x01", headers={"Content-Type": "application/octet-stream"}
    )
    assert (await put.get_json())["kind"] == "bytes"
    assert await (await client.get(URL + "/blob")).get_data() == b"\x00\x01"


async def test_bad_input_gets_400_or_404_and_stores_nothing(
    client: Client, services: Services
) -> None:
    await client.put(URL, json={"value": 1})
    cases = [
        (await client.put(URL, json={"value": 2, "extra": 3}), 400, "extra"),
        (await client.put(URL, json={"valu": 2}), 400, "unknown field 'valu'"),
        (await client.put(URL, data=b"{", headers={"Content-Type": JSON}), 400, "JSON"),
        (await client.put(URL, data=b"{}", headers={"Content-Type": "text/plain"}), 415, "plain"),
        (await client.put("/api/properties/devices/1001/bad name", json={"value": 1}), 400, "name"),
        (await client.put("/api/properties/devices/1001/blob", json={"value": 1}), 400, "reserved"),
        (await client.get("/api/properties/devices/1001/missing"), 404, "missing"),
        (await client.get(URL + "/blob"), 400, "not binary"),
        (await client.delete("/api/properties/devices/1001/missing"), 404, "missing"),
    ]  # fmt: skip
    for response, status, words in cases:
        assert response.status_code == status, (status, words)
        error = (await response.get_json())["error"]
        assert words in error["message"], error
    assert services.get(PropertyStore).get("devices/1001", "firmware") == 1
    assert services.get(PropertyStore).names("devices/1001") == ["firmware"]

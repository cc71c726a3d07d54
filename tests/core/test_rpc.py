"""The JSON-RPC socket of an in-process Daemon: many clients, garbage, monitor streams."""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import stat
from typing import Any

import pytest

from abng.core import methods
from abng.core.daemon import Daemon
from abng.core.model import SessionType, TerminateReason
from abng.core.rpcclient import RpcClient, RpcError


async def raw(daemon: Daemon) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_unix_connection(str(daemon.paths.socket), limit=1 << 26)


async def ask(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, line: bytes) -> dict[str, Any]:
    writer.write(line)
    await writer.drain()
    reply = json.loads(await asyncio.wait_for(reader.readline(), 10))
    assert isinstance(reply, dict)
    return reply


async def seed(daemon: Daemon, n: int) -> list[int]:
    ids = []
    for i in range(n):
        t = SessionType.PPPOE if i % 2 == 0 else SessionType.DHCP
        s = daemon.sessions.open(t, f"user{i}", f"02:00:00:00:01:{i:02x}", f"trunk0.100.{i}")
        await daemon.sessions.activate(
            s.id, ip_address=f"100.64.0.{i + 1}", rate_down="100mbit", rate_up="40mbit"
        )
        ids.append(s.id)
    return ids


async def test_socket_mode_and_basic_methods(daemon: Daemon) -> None:
    assert stat.S_IMODE(os.stat(daemon.paths.socket).st_mode) == 0o660
    await seed(daemon, 4)
    async with RpcClient(daemon.paths.socket) as c:
        system = await c.call("show.system")
        assert system["sessions"] == {"total": 4, "pppoe": 2, "dhcp": 2}
        assert system["dataplane"]["backend"] == "none"
        subs = await c.call("show.subscribers", {"type": "dhcp"})
        assert [s["username"] for s in subs] == ["user1", "user3"]
        assert subs[0]["speed_down"] == "100mbit"
        listed = await c.call("subscribers.list", {"limit": 1, "offset": 1})
        assert listed["count"] == 4 and [s["id"] for s in listed["sessions"]] == [2]
        assert (await c.call("subscribers.get", {"session_id": 3}))["rate_down_bps"] == 100_000_000
        with pytest.raises(RpcError) as err:
            await c.call("subscribers.get", {"session_id": 99})
        assert err.value.code == -32001 and err.value.data == {"what": "session", "id": 99}
        rate = await c.call(
            "request.subscriber.rate", {"session_id": 1, "rate_down": "50mbit", "source": "cli"}
        )
        assert rate == {"session_id": 1, "rate_down": 50_000_000, "rate_up": 40_000_000}
        with pytest.raises(RpcError) as err:
            await c.call("request.subscriber.rate", {"session_id": 1, "rate_down": "lots"})
        assert err.value.code == -32602
        assert await c.call("request.subscriber.disconnect", {"session_id": 1}) == {
            "session_id": 1, "disconnected": True,
        }  # fmt: skip
        gone = await c.call("request.subscriber.disconnect_interface", {"interface": "trunk0.100.1"})
        assert gone == {"interface": "trunk0.100.1", "disconnected": [2], "count": 1}
        assert await c.call("subscribers.summary") == {"total": 2, "pppoe": 1, "dhcp": 1}
        hist = await c.call("subscribers.history")
        assert [(h["id"], h["reason"]) for h in hist] == [(2, "admin_reset"), (1, "admin_reset")]
        with pytest.raises(RpcError) as err:
            await c.call("show.bgp")
        assert err.value.code == -32003 and err.value.data == {"subsystem": "bgp"}
        with pytest.raises(RpcError) as err:
            await c.call("subscribers.create", {"username": "x"})
        assert err.value.code == -32601


async def test_fifty_concurrent_clients(daemon: Daemon) -> None:
    await seed(daemon, 10)

    async def client(i: int) -> list[Any]:
        async with RpcClient(daemon.paths.socket) as c:
            calls = [c.call("subscribers.summary"), c.call("show.subscribers", {"username": f"user{i % 10}"})]
            calls += [c.call("system.health") for _ in range(5)]
            return list(await asyncio.gather(*calls))

    results = await asyncio.gather(*(client(i) for i in range(50)))
    for i, res in enumerate(results):
        assert res[0] == {"total": 10, "pppoe": 5, "dhcp": 5}
        assert [s["username"] for s in res[1]] == [f"user{i % 10}"]
        assert all(r["status"] == "ok" for r in res[2:])


@pytest.mark.parametrize(
    ("line", "code"),
    [
        (b"this is not json\n", -32700),
        (b'{"jsonrpc":"2.0","method":"show.system"\n', -32700),
        (b"\xff\xfe\x00garbage\n", -32700),
        (b"[1,2,3]\n", -32600),
        (b'[{"jsonrpc":"2.0","method":"show.system","id":1}]\n', -32600),
        (b'"just a string"\n', -32600),
        (b'{"jsonrpc":"1.0","method":"show.system","id":1}\n', -32600),
        (b'{"jsonrpc":"2.0","method":42,"id":1}\n', -32600),
        (b'{"jsonrpc":"2.0","method":"show.system","id":{"a":1}}\n', -32600),
        (b'{"jsonrpc":"2.0","method":"show.system","params":[1],"id":1}\n', -32602),
        (b'{"jsonrpc":"2.0","method":"no.such.method","id":1}\n', -32601),
        (b'{"jsonrpc":"2.0","method":"subscribers.get","params":{"session_id":"x"},"id":1}\n', -32602),
        (b'{"jsonrpc":"2.0","method":"subscribers.get","params":{"session_id":true},"id":1}\n', -32602),
        (b'{"jsonrpc":"2.0","method":"monitor.subscribe","params":{"events":["bogus"]},"id":1}\n', -32602),
    ],
)
async def test_malformed_requests_get_errors_and_connection_survives(
    daemon: Daemon, line: bytes, code: int
) -> None:
    reader, writer = await raw(daemon)
    reply = await ask(reader, writer, line)
    assert reply["error"]["code"] == code and reply["jsonrpc"] == "2.0"
    ok = await ask(reader, writer, b'{"jsonrpc":"2.0","method":"subscribers.summary","id":"after"}\n')
    assert ok == {"jsonrpc": "2.0", "result": {"total": 0, "pppoe": 0, "dhcp": 0}, "id": "after"}
    writer.close()


async def test_notification_gets_no_reply(daemon: Daemon) -> None:
    reader, writer = await raw(daemon)
    writer.write(b'{"jsonrpc":"2.0","method":"show.system"}\n{"jsonrpc":"2.0","method":"nope"}\n')
    reply = await ask(reader, writer, b'{"jsonrpc":"2.0","method":"system.version","id":5}\n')
    assert reply["id"] == 5 and "version" in reply["result"]
    writer.close()


async def test_oversized_line_closes_only_that_connection(daemon: Daemon) -> None:
    async with RpcClient(daemon.paths.socket) as bystander:
        reader, writer = await raw(daemon)
        huge = b'{"jsonrpc":"2.0","method":"show.system","params":{"x":"' + b"a" * (2 << 20) + b'"},"id":1}\n'
        try:  # abngd may close before it has read everything: the reply is still there to read
            writer.write(huge)
            await writer.drain()
        except ConnectionError:
            pass
        reply = json.loads(await asyncio.wait_for(reader.readline(), 10))
        assert reply["error"]["code"] == -32600 and reply["id"] is None
        try:
            rest = await asyncio.wait_for(reader.read(), 10)
        except ConnectionError:
            rest = b""
        assert rest == b""  # closed by abngd
        assert (await bystander.call("system.health"))["status"] == "ok"


async def test_fuzzed_garbage_never_disturbs_other_clients(daemon: Daemon) -> None:
    rng = random.Random(1234)
    valid = json.dumps(
        {"jsonrpc": "2.0", "method": "subscribers.list", "params": {"limit": 3}, "id": 9}
    ).encode()
    async with RpcClient(daemon.paths.socket) as bystander:
        for _ in range(40):
            blob = bytearray(valid)
            for _ in range(rng.randint(1, 8)):
                op = rng.random()
                pos = rng.randrange(len(blob))
                if op < 0.4:
                    blob[pos] = rng.randrange(256)
                elif op < 0.7:
                    del blob[pos]
                else:
                    blob.insert(pos, rng.randrange(256))
            reader, writer = await raw(daemon)
            writer.write(bytes(blob).replace(b"\n", b" ") + b"\n")
            await writer.drain()
            line = await asyncio.wait_for(reader.readline(), 10)
            if line:  # a reply is an object with a result or an error, never a crash
                msg = json.loads(line)
                assert ("result" in msg) != ("error" in msg)
            writer.close()  # and some clients vanish without reading
        assert (await bystander.call("subscribers.summary"))["total"] == 0
    assert daemon.tasks.crashes == 0


async def test_vanished_client_mid_request(daemon: Daemon) -> None:
    await seed(daemon, 3)
    for _ in range(10):
        _, writer = await raw(daemon)
        writer.write(b'{"jsonrpc":"2.0","method":"show.subscribers","id":1}\n' * 20)
        writer.transport.abort()
    async with RpcClient(daemon.paths.socket) as c:
        assert len(await c.call("show.subscribers")) == 3
    assert daemon.tasks.crashes == 0


async def subscribe(
    daemon: Daemon, events: list[str] | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await raw(daemon)
    params = {"events": events} if events else {}
    req = {"jsonrpc": "2.0", "method": "monitor.subscribe", "params": params, "id": 1}
    reply = await ask(reader, writer, json.dumps(req).encode() + b"\n")
    assert reply["result"]["subscribed"] is True
    return reader, writer  # keep the writer: dropping it closes the connection


async def next_event(conn: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> dict[str, Any]:
    reader, _ = conn
    msg = json.loads(await asyncio.wait_for(reader.readline(), 10))
    assert msg["jsonrpc"] == "2.0" and msg["method"] == "event" and "id" not in msg
    params: dict[str, Any] = msg["params"]
    return params


async def test_monitor_delivers_events_and_filters(daemon: Daemon) -> None:
    everything = await subscribe(daemon)
    downs_only = await subscribe(daemon, ["session_down"])
    [sid] = await seed(daemon, 1)
    ev = await next_event(everything)
    assert ev["event"] == "session_up" and ev["data"]["id"] == sid and ev["timestamp"].endswith("Z")
    await daemon.sessions.terminate(sid, TerminateReason.LOST_CARRIER)
    down = await next_event(downs_only)  # session_up was filtered out
    assert down["event"] == "session_down" and down["data"]["reason"] == "lost_carrier"
    assert (await next_event(everything))["event"] == "session_down"


async def test_rpcclient_subscribe(daemon: Daemon) -> None:
    stream = RpcClient(daemon.paths.socket).subscribe(["rate_change"])
    first = asyncio.ensure_future(anext(stream))
    [sid] = await seed(daemon, 1)
    while not first.done():  # the subscription may not be registered yet: repeat the change
        await daemon.sessions.change_rate(sid, "10mbit", None, "cli")
        await asyncio.wait([first], timeout=0.05)
    ev = first.result()
    assert ev["event"] == "rate_change" and ev["data"]["source"] == "cli"
    await stream.aclose()


async def test_slow_subscriber_is_dropped_without_harming_others(daemon: Daemon) -> None:
    daemon.rpc.queue_limit = 64
    slow = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)  # subscribes, then never reads
    slow.connect(str(daemon.paths.socket))
    slow.sendall(b'{"jsonrpc":"2.0","method":"monitor.subscribe","id":1}\n')
    fast = await subscribe(daemon, ["error"])
    payload = "x" * 4000
    published = 0
    while daemon.bus.subscribers == 2 and published < 20_000:
        for _ in range(32):
            daemon.bus.publish("error", {"message": payload})
        published += 32
        for _ in range(32):  # the fast subscriber keeps up
            assert (await next_event(fast))["data"]["message"] == payload
    assert daemon.bus.subscribers == 1, "the slow subscriber was not dropped"
    assert daemon.rpc.stats["slow_dropped"] == 1
    daemon.bus.publish("error", {"message": "last"})
    assert (await next_event(fast))["data"]["message"] == "last"
    slow.close()
    async with RpcClient(daemon.paths.socket) as c:
        assert (await c.call("system.health"))["status"] == "ok"


async def test_big_lists_rendered_in_thread(daemon: Daemon, monkeypatch: pytest.MonkeyPatch) -> None:
    await seed(daemon, 6)
    async with RpcClient(daemon.paths.socket) as c:
        small_rpc = await c.call("show.subscribers")
        small_rest = await c.call("subscribers.list", {"offset": 1})
        monkeypatch.setattr(methods, "BIG_LIST", 2)
        assert await c.call("show.subscribers") == small_rpc
        assert await c.call("subscribers.list", {"offset": 1}) == small_rest
        assert small_rest["count"] == 6 and len(small_rest["sessions"]) == 5


async def test_half_closed_client_still_gets_every_reply(daemon: Daemon) -> None:
    await seed(daemon, 2500)  # one big (thread-rendered) reply among small ones
    reader, writer = await raw(daemon)
    writer.write(b'{"jsonrpc":"2.0","method":"show.subscribers","id":1}\n')
    writer.write(b'{"jsonrpc":"2.0","method":"subscribers.summary","id":2}\n')
    writer.write(b'{"jsonrpc":"2.0","method":"system.version","id":3}\n')
    writer.write_eof()  # like `printf ... | socat - UNIX-CONNECT:abngd.sock`
    replies = [json.loads(await asyncio.wait_for(reader.readline(), 30)) for _ in range(3)]
    assert sorted(r["id"] for r in replies) == [1, 2, 3]
    by_id = {r["id"]: r["result"] for r in replies}
    assert len(by_id[1]) == 2500 and by_id[2]["total"] == 2500
    assert await asyncio.wait_for(reader.read(), 10) == b""
    writer.close()

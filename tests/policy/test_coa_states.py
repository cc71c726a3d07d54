"""CoA/Disconnect for sessions in ``starting`` and ``terminating`` (NAK 506), in-process.

abngd's subsystems run in the test's event loop (sessions need the internal interface to be held
in those states); radclient is the real client, against the CoA listener on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from abng.aaa import coa_service
from abng.core.model import Session, SessionState, SessionType, TerminateReason
from abng.dataplane.detect import DataplaneInfo
from tests.helpers.freeradius import free_udp_port, radclient, radclient_dictdir
from tests.policy.conftest import base_config, build_env, close_env, requires_root

pytestmark = [
    requires_root,
    pytest.mark.skipif(shutil.which("radclient") is None, reason="radclient (freeradius-utils) missing"),
]


class BlockingDisconnector:
    """Holds a termination in ``terminating`` until released."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.entered = asyncio.Event()

    async def disconnect(self, session: Session, reason: TerminateReason) -> None:
        self.entered.set()
        await self.release.wait()


async def test_starting_and_terminating_sessions_get_nak_506(
    tmp_path: Path, policy_ns: str, detected: DataplaneInfo
) -> None:
    port = free_udp_port()
    cfg = base_config()
    cfg["radius"] = {
        "servers": [{"host": "127.0.0.1", "secret": "testing123"}],
        "coa_enabled": True,
        "coa_port": port,
        "coa_listen": "127.0.0.1",
    }
    env = await build_env(tmp_path, policy_ns, detected, cfg)
    coa = await coa_service.setup(env.daemon)
    assert coa is not None and coa.server is not None
    dd = radclient_dictdir(tmp_path)
    blocker = BlockingDisconnector()
    env.mgr.register_disconnector(SessionType.DHCP, blocker)
    try:
        starting = env.mgr.open(SessionType.DHCP, "cpe-a", "02:00:00:00:00:0a", "trunk0.100.10")
        rc, out = await radclient(dd, port, "coa", 'User-Name = "cpe-a"\nAthena-Rate-Down = "5mbit"\n')
        assert rc != 0 and "CoA-NAK" in out and "Resources-Unavailable" in out, out
        rc, out = await radclient(dd, port, "disconnect", f'Acct-Session-Id = "{starting.acct_session_id}"\n')
        assert rc != 0 and "Disconnect-NAK" in out and "Resources-Unavailable" in out, out
        assert starting.state is SessionState.STARTING  # untouched

        s = await env.up(11, "100.64.0.111")
        ending = asyncio.create_task(env.mgr.terminate(s.id, TerminateReason.ADMIN_RESET))
        await asyncio.wait_for(blocker.entered.wait(), 5)
        assert s.state is SessionState.TERMINATING
        rc, out = await radclient(
            dd, port, "coa", 'Framed-IP-Address = 100.64.0.111\nAthena-Rate-Up = "1mbit"\n'
        )
        assert rc != 0 and "CoA-NAK" in out and "Resources-Unavailable" in out, out
        rc, out = await radclient(dd, port, "disconnect", "Framed-IP-Address = 100.64.0.111\n")
        assert rc != 0 and "Disconnect-NAK" in out and "Resources-Unavailable" in out, out
        blocker.release.set()
        await ending
        assert env.mgr.find(s.id) is None
        assert coa.server.stats["nak_506"] == 4
    finally:
        blocker.release.set()
        await coa.close()
        await close_env(env)

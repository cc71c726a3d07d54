"""The real abngd process: start, restart persistence, config over RPC, SIGTERM."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from abng.core.model import SessionState, SessionType, TerminateReason
from abng.core.rpcclient import RpcClient, RpcError
from tests.helpers.daemon import running_abngd, sample_session, seed_sessions, start_abngd


def next_id(state_dir: Path) -> int:
    db = sqlite3.connect(state_dir / "sessions.db")
    try:
        return int(db.execute("SELECT value FROM meta WHERE key='next_id'").fetchone()[0])
    finally:
        db.close()


def test_restart_restores_sessions_and_sigterm_keeps_them(tmp_path: Path) -> None:
    seeded = [
        sample_session(1),
        sample_session(2, SessionType.DHCP),
        sample_session(3, state=SessionState.STARTING),
        sample_session(4, state=SessionState.TERMINATING, reason=TerminateReason.ADMIN_RESET),
    ]
    seeded[0].bytes_in = 5 << 32  # 64-bit counters survive
    with running_abngd(tmp_path, sessions=seeded) as d:
        subs = d.call("show.subscribers")
        assert [s["id"] for s in subs] == [1, 2]
        assert subs[0]["bytes_in"] == 5 << 32 and subs[0]["acct_session_id"] == seeded[0].acct_session_id
        assert d.call("subscribers.summary") == {"total": 2, "pppoe": 1, "dhcp": 1}
        hist = {h["id"]: h["reason"] for h in d.call("subscribers.history")}
        assert hist == {3: "nas_error", 4: "admin_reset"}
        assert stat.S_IMODE(os.stat(d.socket_path).st_mode) == 0o660
        code = d.stop()
        assert code == 0
        assert "abngd stopped; 2 sessions kept" in d.log()
        assert not d.socket_path.exists()
        assert next_id(d.state_dir) == 5
        # second start: the same sessions, nothing terminated by the shutdown
        d2 = start_abngd(d.config_dir, d.run_dir, d.state_dir)
        try:
            assert [s["id"] for s in d2.call("show.subscribers")] == [1, 2]
            assert d2.call("subscribers.get", {"session_id": 1})["state"] == "active"
        finally:
            assert d2.stop() == 0
        assert next_id(d.state_dir) == 5  # ids keep counting from where they were


def test_config_commit_over_rpc_persists(tmp_path: Path) -> None:
    with running_abngd(tmp_path) as d, d.client() as c:
        assert (
            c.call("config.set", {"path": "system hostname", "value": "bng-test-1"})["value"] == "bng-test-1"
        )
        assert c.call("config.compare")["changed"] is True
        assert c.call("show.system")["hostname"] != "bng-test-1"  # candidate only
        with pytest.raises(RpcError) as err:
            c.call("config.set", {"path": "pppoe mtu", "value": "big"})
        assert err.value.code == -32602
        with pytest.raises(RpcError) as err:
            c.call("config.set", {"path": "no such thing", "value": 1})
        assert err.value.code == -32602
        res = c.call("config.commit", {"comment": "rename", "user": "tester"})
        assert res["committed"] is True and res["changes"] == ["system.hostname"]
        assert c.call("show.system")["hostname"] == "bng-test-1"
        assert c.call("config.history")[0]["comment"] == "rename"
        shown = c.call("show.configuration", {"section": "api"})
        assert all(u["password_hash"] == "********" for u in shown["users"])
        assert all(u["password_hash"].startswith("$2") for u in c.call("auth.users")["users"])
        gen = res["generation"]
        d.stop()
        d2 = start_abngd(d.config_dir, d.run_dir, d.state_dir)
        try:
            assert d2.call("show.system")["hostname"] == "bng-test-1"
            assert d2.call("auth.users")["generation"] == gen
        finally:
            d2.stop()


def test_invalid_commit_is_refused_with_paths(tmp_path: Path) -> None:
    with running_abngd(tmp_path) as d, d.client() as c:
        c.call("config.set", {"path": "api enabled", "value": True})
        c.call("config.delete", {"path": "api users"})
        with pytest.raises(RpcError) as err:
            c.call("config.commit")
        assert err.value.code == -32010
        assert any(e["path"] == "api.users" for e in err.value.data["errors"])
        assert c.call("config.discard") == {"discarded": True}
        assert c.call("config.compare")["changed"] is False


def test_env_dirs_and_sigint(tmp_path: Path) -> None:
    env = {**os.environ, "ABNG_CONFIG_DIR": str(tmp_path / "e"), "ABNG_RUN_DIR": str(tmp_path / "r"),
           "ABNG_STATE_DIR": str(tmp_path / "s")}  # fmt: skip
    seed_sessions(tmp_path / "s", [sample_session(7)])
    proc = subprocess.Popen([sys.executable, "-m", "abng.core.daemon"], env=env, stderr=subprocess.PIPE)
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if b"abngd listening on" in line:
                break
        assert (tmp_path / "r" / "abngd.sock").exists() and (tmp_path / "e" / "running-config.yaml").exists()
        proc.send_signal(1)  # SIGHUP: logged and ignored
        for line in proc.stderr:
            if b"SIGHUP ignored" in line:
                break
        assert proc.poll() is None
        proc.send_signal(2)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_second_instance_refuses_same_socket(tmp_path: Path) -> None:
    with running_abngd(tmp_path) as d:
        cmd = [sys.executable, "-m", "abng.core.daemon", "--config-dir", str(tmp_path / "x"),
               "--run-dir", str(d.run_dir), "--state-dir", str(tmp_path / "y")]  # fmt: skip
        second = subprocess.run(cmd, capture_output=True, timeout=30)
        assert second.returncode == 1 and b"another abngd is listening" in second.stderr
        assert d.socket_path.exists() and d.call("system.health")["status"] == "ok"


async def test_rpcclient_reconnects_after_abngd_restart(tmp_path: Path) -> None:
    with running_abngd(tmp_path) as d:
        client = RpcClient(d.socket_path, timeout=10)
        try:
            first = (await client.call("show.system"))["started_at"]
            d.stop()
            with pytest.raises(ConnectionError):
                await client.call("show.system")
            d2 = start_abngd(d.config_dir, d.run_dir, d.state_dir)
            try:
                assert (await client.call("system.health"))["status"] == "ok"
                assert (await client.call("show.system"))["started_at"] >= first
            finally:
                d2.stop()
        finally:
            await client.close()

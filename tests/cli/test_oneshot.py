"""``abng -c`` and piped stdin against a live abngd: output, exit status, errors on stderr."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.cli.term import ABNG
from tests.cli.test_terminal import unavailable
from tests.helpers.daemon import AbngdHandle


def abng(d: AbngdHandle | Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    sock = d.socket_path if isinstance(d, AbngdHandle) else d
    env = {k: v for k, v in os.environ.items() if k != "ABNG_RUN_DIR"}
    return subprocess.run(
        [str(ABNG), "--socket", str(sock), *args], capture_output=True, text=True, timeout=30,
        input=stdin, env={**env, "COLUMNS": "120"},
    )  # fmt: skip


def test_show_commands_succeed(abngd: AbngdHandle) -> None:
    r = abng(abngd, "-c", "show version")
    assert r.returncode == 0, r.stderr
    assert "0.1.0" in r.stdout and r.stderr == ""
    r = abng(abngd, "-c", "sh sub sum")
    assert r.returncode == 0
    summary = dict(line.split(":") for line in r.stdout.splitlines())
    assert int(summary["PPPoE"]) >= 2 and int(summary["DHCP"]) == 1
    r = abng(abngd, "-c", "show subscribers username alice@isp.example")
    assert r.returncode == 0 and "alice@isp.example" in r.stdout and "100 Mbps" in r.stdout
    assert r.stdout.splitlines()[-1] == "Total: 1"
    r = abng(abngd, "-c", "show subscribers detail 3 | match Username")
    assert r.stdout.split() == ["Username:", "alice@isp.example"]


def test_pipes_on_live_output(abngd: AbngdHandle) -> None:
    r = abng(abngd, "-c", "show subscribers type dhcp | display json")
    data = json.loads(r.stdout)
    assert data["count"] == 1 and data["sessions"][0]["type"] == "DHCP"
    r = abng(abngd, "-c", "show configuration | match hostname | count")
    assert r.stdout.strip() == "Count: 1 lines"
    r = abng(abngd, "-c", "show configuration system | except zone | last 2")
    assert r.stdout.splitlines() == ["  log_level: info", "  dataplane: auto"]


def test_exit_status_and_stderr_on_errors(abngd: AbngdHandle, tmp_path: Path) -> None:
    missing = unavailable(abngd)
    if missing:  # abngd answers -32003 for a subsystem it does not have yet
        r = abng(abngd, "-c", missing[0])
        assert r.returncode == 1 and r.stdout == ""
        assert r.stderr.startswith("error: ") and f"subsystem '{missing[1]}' not available" in r.stderr
    r = abng(abngd, "-c", "show subscribers detail 999")
    assert r.returncode == 1 and "999" in r.stderr
    r = abng(abngd, "-c", "show bogus")
    assert r.returncode == 2 and "syntax error at 'bogus'" in r.stderr
    r = abng(abngd, "-c", 'show "open')
    assert r.returncode == 2 and "unterminated quote" in r.stderr
    r = abng(tmp_path / "nothing.sock", "-c", "show version")
    assert r.returncode == 3 and "cannot connect to abngd" in r.stderr


def test_run_dir_from_environment(abngd: AbngdHandle) -> None:
    env = {**os.environ, "ABNG_RUN_DIR": str(abngd.run_dir)}
    r = subprocess.run([str(ABNG), "-c", "show version"], capture_output=True, text=True, env=env, timeout=30)
    assert r.returncode == 0 and "abng:" in r.stdout


def test_configuration_in_one_shot(abngd: AbngdHandle) -> None:
    r = abng(
        abngd, "-c", 'configure; set system hostname "bng-oneshot"; show | compare; commit comment "one shot"'
    )
    assert r.returncode == 0, r.stderr
    assert "+  hostname: bng-oneshot" in r.stdout and "commit complete" in r.stdout
    history = abngd.call("config.history")
    assert history[0]["comment"] == "one shot" and history[0]["user"]  # audited with the OS user
    r = abng(abngd, "-c", "configure; set pppoe mtu 9000")
    assert r.returncode == 2 and "pppoe.mtu: 9000 is out of range: expected int, 1280..1500" in r.stderr
    r = abng(abngd, "-c", "configure; rollback 1; commit")
    assert r.returncode == 0 and abngd.call("config.show", {"section": "system"})["hostname"] != "bng-oneshot"


def test_commands_from_stdin(abngd: AbngdHandle) -> None:
    r = abng(abngd, stdin="show version\nshow subscribers summary\n")
    assert r.returncode == 0 and "Kernel:" in r.stdout and "Total:" in r.stdout


def test_request_disconnect(abngd: AbngdHandle) -> None:
    r = abng(abngd, "-c", "request subscriber disconnect 4")
    assert r.returncode == 0 and r.stdout.strip() == "Session 4 disconnected."
    r = abng(abngd, "-c", "request subscriber disconnect 4")
    assert r.returncode == 1 and r.stderr.startswith("error:")
    r = abng(abngd, "-c", "request subscriber disconnect interface trunk0.105.6")
    assert r.returncode == 0 and "1 session(s) disconnected on trunk0.105.6: 5" in r.stdout
    r = abng(abngd, "-c", "request radius test bob secret")
    assert r.returncode == 1 and "subsystem 'aaa' not available" in r.stderr


def test_display_set_round_trips(abngd: AbngdHandle) -> None:
    r = abng(abngd, "-c", "show configuration system | display set")
    lines = r.stdout.splitlines()
    assert r.returncode == 0 and lines[0].startswith("set system hostname ")
    r = abng(abngd, "-c", "; ".join(["configure", *lines, "show | compare"]))
    assert r.returncode == 0 and r.stdout.splitlines()[-1] == "[no changes]"
    r = abng(abngd, "-c", "show version | display set")
    assert r.returncode == 1 and "configuration output only" in r.stderr


def test_delete_and_discard(abngd: AbngdHandle) -> None:
    r = abng(
        abngd, "-c", "configure; delete pppoe auth pap; show pppoe auth; compare; discard; show pppoe auth"
    )
    assert r.returncode == 0, r.stderr
    out = r.stdout.split("\n")
    first = out.index("auth:")
    assert out[first + 1] == "- chap" and "-  - pap" in r.stdout
    assert out[out.index("auth:", first + 1) + 1 : out.index("auth:", first + 1) + 3] == ["- pap", "- chap"]
    r = abng(abngd, "-c", "configure; delete routing bgp asn")
    assert r.returncode == 1 and r.stderr.startswith("error: routing.bgp.asn: nothing")


def test_request_rate_changes_in_place(abngd: AbngdHandle) -> None:
    r = abng(abngd, "-c", "request subscriber rate 7 down 25mbit up 10mbit")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "Session 7: download 25 Mbps, upload 10 Mbps."
    detail = abngd.call("subscribers.get", {"session_id": 7})
    assert (detail["rate_down"], detail["rate_up"]) == (25_000_000, 10_000_000)
    r = abng(abngd, "-c", "request subscriber rate 7 up 5mbit")
    assert r.returncode == 0 and "upload 5 Mbps" in r.stdout and "download 25 Mbps" in r.stdout
    r = abng(abngd, "-c", "request subscriber rate 7 down fast")
    assert r.returncode != 0 and "rate" in r.stderr
    r = abng(abngd, "-c", "request subscriber rate 9999 down 1mbit")
    assert r.returncode == 1 and r.stderr.startswith("error:")

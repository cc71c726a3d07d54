"""Pipes, tables, detail views and formats, without a terminal or abngd."""

from __future__ import annotations

import re
from collections.abc import Iterator

from abng.cli import pipes, render, views
from abng.cli.parser import Pipe
from abng.core.model import SessionType
from tests.helpers.daemon import sample_session

LINES = ["alpha 1", "beta 2", "gamma 3", "delta 4", "alphabet 5"]


def test_pipes_combine_left_to_right() -> None:
    match, exc = Pipe("match", re.compile("alpha|beta")), Pipe("except", re.compile("bet"))
    assert list(pipes.apply(LINES, [match])) == ["alpha 1", "beta 2", "alphabet 5"]
    assert list(pipes.apply(LINES, [match, exc])) == ["alpha 1"]
    assert list(pipes.apply(LINES, [match, Pipe("count")])) == ["Count: 3 lines"]
    assert list(pipes.apply(LINES, [Pipe("last", 2)])) == ["delta 4", "alphabet 5"]
    assert list(pipes.apply(LINES, [Pipe("last", 3), Pipe("match", re.compile("a 3"))])) == ["gamma 3"]
    assert list(pipes.apply([], [Pipe("count")])) == ["Count: 0 lines"]
    opts = pipes.display_options([Pipe("no-more"), Pipe("display", "json")])
    assert opts.json and not opts.paginate and not opts.compare


def test_count_and_last_finish_a_stream_ended_by_ctrl_c() -> None:
    def stream() -> Iterator[str]:
        yield "session_up 1"
        yield "session_up 2"
        raise KeyboardInterrupt

    assert list(pipes.apply(stream(), [Pipe("count")])) == ["Count: 2 lines"]
    assert list(pipes.apply(stream(), [Pipe("last", 1)])) == ["session_up 2"]


def test_filters_are_lazy_for_live_streams() -> None:
    seen: list[str] = []

    def stream() -> Iterator[str]:
        for line in LINES:
            seen.append(line)
            yield line

    out = pipes.apply(stream(), [Pipe("match", re.compile("beta"))])
    assert next(out) == "beta 2"
    assert seen == ["alpha 1", "beta 2"]  # nothing read ahead


def test_human_formats() -> None:
    assert render.uptime(93784) == "1d 02:03:04"
    assert render.uptime(59) == "00:00:59"
    assert render.uptime(None) == "-"
    assert render.size(1_234_567) == "1.23 MB"
    assert render.size(999) == "999 B"
    assert render.rates(100_000_000, 2_500_000) == "100 Mbps / 2.5 Mbps"
    assert render.timestamp(0) == "1970-01-01 00:00:00 UTC"


def test_table_fits_the_width_and_keeps_fixed_columns() -> None:
    cols = (render.Column("ID", "id", ">", shrink=False), render.Column("Name", "name"),
            render.Column("IP", "ip", shrink=False))  # fmt: skip
    rows = [
        {"id": 1, "name": "a-very-long-subscriber-name@example.net", "ip": "10.0.0.1"},
        {"id": 22, "name": "b"},
    ]
    wide = render.table(cols, rows, 120)
    assert wide[1] == " 1  a-very-long-subscriber-name@example.net  10.0.0.1"
    assert wide[2].startswith("22  b")
    assert wide[2].endswith("-")  # None shown as '-'
    narrow = render.table(cols, rows, 30)
    assert all(len(line) <= 30 for line in narrow)
    assert "10.0.0.1" in narrow[1] and render.ELLIPSIS in narrow[1]


def test_subscriber_views() -> None:
    s1 = sample_session(1, username="alice@isp")
    s2 = sample_session(2, SessionType.DHCP)
    result = {"sessions": [s1.to_rest(), s2.to_rest()], "count": 2}
    lines = views.subscribers(result, now=s1.started_at + 3661, width=100)
    assert lines[0].split() == [
        "ID",
        "Type",
        "Username",
        "IP",
        "address",
        "Interface",
        "Down",
        "Up",
        "State",
        "Uptime",
    ]
    assert (
        "alice@isp" in lines[1]
        and "100 Mbps" in lines[1]
        and "40 Mbps" in lines[1]
        and "01:01:01" in lines[1]
    )
    assert "DHCP" in lines[2] and lines[-1] == "Total: 2"
    assert all(len(line) <= 60 for line in views.subscribers(result, now=s1.started_at, width=60))
    assert views.subscribers({"sessions": [], "count": 0}, 0, 80) == ["No subscribers."]
    d = views.subscriber_detail({**s1.to_rest_detail(), "uptime": 90061})
    assert d[0] == "Session 1  PPPoE  active"
    assert any(re.fullmatch(r"\s+Rate down / up:\s+100 Mbps / 40 Mbps", line) for line in d)
    assert any(re.fullmatch(r"\s+Uptime:\s+1d 01:01:01", line) for line in d)


def test_configuration_and_events() -> None:
    assert views.configuration({"asn": 64512}, ["routing", "bgp"]) == ["bgp:", "  asn: 64512"]
    assert views.configuration(None, ["x"]) == ["x: (not set)"]
    ev = {
        "event": "config_commit",
        "timestamp": "T",
        "data": {"generation": 4, "changes": ["system.hostname"]},
    }
    assert views.event(ev) == "T config_commit generation=4 changes=system.hostname"
    down = {
        "event": "session_down",
        "timestamp": "T",
        "data": {**sample_session(3).to_rpc(), "reason": "admin_reset"},
    }
    line = views.event(down)
    assert "session_down" in line and "id=3" in line and "reason=admin_reset" in line


def test_display_set_and_odd_shapes() -> None:
    data = {"hostname": "AthenaBNG 01", "enabled": True, "auth": ["pap", "chap"], "profiles": [{"name": "q"}]}
    assert views.set_commands(data, ["x"]) == [
        'set x hostname "AthenaBNG 01"',
        "set x enabled true",
        "set x auth pap",
        "set x auth chap",
        "set x profiles 0 name q",
    ]
    lines = views.system({"dataplane": {"backend": "userspace", "features": {"htb": True, "cake": False}}})
    assert any(re.fullmatch(r"Features:\s+htb", line) for line in lines)
    q = views.qos([{"session_id": 1, "rate_down": "100mbit", "rate_up": 40_000_000, "installed": True}], 100)
    assert "100 Mbps" in q[1] and "40 Mbps" in q[1] and "yes" in q[1]

"""The interactive ``abng`` in a real pseudo-terminal (pexpect) against a live abngd."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from abng.core.errors import UNAVAILABLE, RpcError
from tests.cli.term import Term
from tests.helpers.daemon import AbngdHandle


@pytest.fixture
def term(abngd: AbngdHandle, home: Path) -> Iterator[Term]:
    t = Term(abngd.socket_path, home)
    t.expect("abng>")
    try:
        yield t
    finally:
        t.close()
        abngd.call("config.discard")


def test_tab_completes_keywords_and_abbreviations_run(term: Term) -> None:
    term.tab("sh ver")  # Tab completes the unique keyword
    term.send("\r")
    term.expect(r"sh version\s*\n")
    term.expect(r"Kernel:\s+\S+")
    term.expect("abng>")
    out = term.run("sh sub sum")
    assert "Total:" in out and "PPPoE:" in out and "DHCP:" in out


def test_question_mark_lists_keywords_with_help(term: Term) -> None:
    term.send("show ?")
    term.expect("Possible completions:")
    term.expect("abng>")
    assert "subscribers    Subscriber sessions" in term.before
    assert "bgp" in term.before and "configuration" in term.before
    term.send("subscribers ?")  # the typed text is kept after the help
    term.expect("abng>")
    assert "summary" in term.before and "<[Enter]>" in term.before and "username" in term.before
    term.send("summary\r")
    term.expect(r"Total:\s+\d+")
    term.expect("abng>")


def test_dynamic_completion_of_session_ids_and_interfaces(term: Term) -> None:
    term.send("show subscribers detail ?")
    term.expect("abng>")
    assert "alice@isp.example" in term.before  # session 3 offered with its user name
    term.send("\x15")  # Ctrl-U: clear the line
    term.tab("show subscribers interface trunk0.103")
    term.send("\r")
    term.expect(r"show subscribers interface trunk0\.103\.4\s*\n")  # completed from the live sessions
    term.expect(r"alice@isp\.example")
    term.expect("Total: 1")


def test_schema_help_and_completion_in_configuration_mode(term: Term) -> None:
    term.run("configure", prompt="abng#")
    term.send("set pppoe mtu ?")
    term.expect("abng#")
    assert "<int>" in term.before and "1280..1500" in term.before and "PPP MTU" in term.before
    term.send("\x15")
    term.tab("set system log_l")
    term.send("?")
    term.expect("abng#")
    assert all(level in term.before for level in ("debug", "info", "warning", "error"))
    term.send("\x15")
    term.tab("set ro")  # routing
    term.tab("bg")  # bgp
    term.send("?")
    term.expect("abng#")
    assert "asn" in term.before and "enabled" in term.before
    term.tab("as")
    assert "error" not in term.submit("64512", prompt="abng#")
    out = term.run("show | compare", prompt="abng#")
    assert "+    asn: 64512" in out, term.seen


def test_configure_set_compare_commit_rollback_discard(term: Term, abngd: AbngdHandle) -> None:
    out = term.run("configure", prompt="abng#")
    assert "Entering configuration mode" in out
    term.run('set system hostname "pty-bng"', prompt="abng#")
    out = term.run("show | compare", prompt="abng#")
    assert "-  hostname: abng-lab" in out and "+  hostname: pty-bng" in out
    out = term.run("show system", prompt="abng#")
    assert "hostname: pty-bng" in out
    out = term.run("commit check", prompt="abng#")
    assert "configuration check succeeds (changes: system.hostname)" in out
    out = term.run('commit comment "from the pty"', prompt="abng#")
    assert "commit complete" in out and "system.hostname" in out
    assert abngd.call("config.history")[0]["comment"] == "from the pty"
    out = term.run("run show version", prompt="abng#")
    assert "pty-bng" in out
    out = term.run("rollback 1", prompt="abng#")
    assert "load complete" in out
    out = term.run("show | compare", prompt="abng#")
    assert "+  hostname: abng-lab" in out
    out = term.run("commit", prompt="abng#")
    assert "commit complete" in out
    term.run("set pppoe mtu 1400", prompt="abng#")
    out = term.run("discard", prompt="abng#")
    assert "discarded" in out
    assert "[no changes]" in term.run("show | compare", prompt="abng#")
    term.run("set pppoe mtu 1400", prompt="abng#")
    out = term.run("exit", prompt="abng>")
    assert "uncommitted changes remain" in out and "Exiting configuration mode" in out
    assert "The configuration has been changed but not committed" in term.run("configure", prompt="abng#")
    term.run("discard", prompt="abng#")
    out = term.run("exit", prompt="abng>")
    assert "uncommitted" not in out


def unavailable(abngd: AbngdHandle) -> tuple[str, str] | None:
    """A show command whose RPC abngd answers with -32003, and its subsystem (None if all exist)."""
    commands = {"show bgp summary": "show.bgp", "show vlans": "show.vlans",
                "show interfaces": "show.interfaces", "show routes": "show.routes"}  # fmt: skip
    for command, method in commands.items():
        try:
            abngd.call(method)
        except RpcError as exc:
            if exc.code == UNAVAILABLE:
                return command, exc.data["subsystem"]
    return None


def test_errors_name_path_and_rule_with_a_caret(term: Term, abngd: AbngdHandle) -> None:
    term.run("configure", prompt="abng#")
    out = term.run("set pppoe mtu 9000", prompt="abng#")
    assert "error: pppoe.mtu: 9000 is out of range: expected int, 1280..1500" in out
    caret = next(line for line in out.splitlines() if line.strip() == "^")
    assert caret.index("^") == len("abng# set pppoe mtu ")
    out = term.run("set system log_level loud", prompt="abng#")
    assert "system.log_level: invalid value 'loud': expected one of debug, info, warning, error" in out
    out = term.run("set pppoe mtux 1", prompt="abng#")
    assert "unknown key 'mtux' at pppoe (did you mean 'mtu'?)" in out
    term.run("exit")
    out = term.run("sh s")
    assert "ambiguous 's': system, subscribers" in out
    missing = unavailable(abngd)
    if missing:  # a subsystem abngd does not have (yet) says so plainly
        command, subsystem = missing
        out = term.run(command)
        assert "error:" in out and f"subsystem '{subsystem}' not available" in out


def test_pipes_combine(term: Term) -> None:
    out = term.run("show subscribers | match alice")
    assert "alice@isp.example" in out and "user1" not in out
    assert "Count: 1 lines" in term.run("show subscribers | match alice | count")
    out = term.run("show subscribers | except alice | match PPPoE | last 1 | no-more")
    assert len([line for line in out.splitlines() if "PPPoE" in line]) == 1
    out = term.run("show subscribers detail 3 | display json")
    assert '"username": "alice@isp.example"' in out


def test_long_output_pages_unless_no_more(abngd: AbngdHandle, home: Path) -> None:
    t = Term(abngd.socket_path, home, rows=12)
    try:
        t.expect("abng>")
        t.send("show configuration\r")
        t.expect(r"---\(more\)---")
        t.send(" ")  # next page
        t.expect(r"---\(more\)---")
        t.send("q")
        t.expect("abng>")
        t.send("show configuration | no-more\r")
        t.expect("token_expiry")  # the end of the configuration, no pager in between
        t.expect("abng>")
        assert "---(more)---" not in t.before
    finally:
        t.close()


def test_monitor_subscribers_receives_events(term: Term, abngd: AbngdHandle) -> None:
    term.send("monitor subscribers\r")
    term.expect("monitoring subscriber events")
    abngd.call("request.subscriber.disconnect", {"session_id": 6})  # a real session event
    term.expect(r"session_down\s+id=6 type=pppoe user=user6 .*reason=admin_reset")
    abngd.call("config.set", {"path": "system timezone", "value": "Europe/Berlin"})
    abngd.call("config.commit", {"comment": "monitor test"})
    term.expect(r"config_commit\s+generation=\d+ changes=system.timezone")
    term.child.sendintr()  # Ctrl-C ends the stream, back at the prompt
    term.expect("abng>")
    abngd.call("config.rollback", {"n": 1})
    abngd.call("config.commit", {})


def test_monitor_with_pipes_counts_at_ctrl_c(term: Term, abngd: AbngdHandle) -> None:
    term.send("monitor subscribers | match session_down | count\r")
    term.expect("monitoring subscriber events")
    abngd.call("request.subscriber.disconnect", {"session_id": 7})
    abngd.call("request.subscriber.disconnect", {"session_id": 8})
    deadline = time.monotonic() + 10
    while len(abngd.call("subscribers.history", {})) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # let the two notifications reach the CLI before Ctrl-C
    term.child.sendintr()
    term.expect("Count: 2 lines")
    term.expect("abng>")


def test_history_persists_across_runs(abngd: AbngdHandle, home: Path) -> None:
    first = Term(abngd.socket_path, home)
    first.expect("abng>")
    first.run("show version")
    assert first.close() == 0
    assert "show version" in (home / ".abng_history").read_text()
    second = Term(abngd.socket_path, home)
    try:
        second.expect("abng>")
        second.send("\x1b[A")  # Up arrow recalls the previous run's command
        second.expect("show version")
        second.send("\r")
        second.expect("Kernel:")
    finally:
        second.close()
    # secrets never reach the history file, which only its owner can read
    keeper = Term(abngd.socket_path, home)
    keeper.expect("abng>")
    keeper.run("request radius test bob hunter2")
    keeper.run("configure", prompt="abng#")
    keeper.run('set radius coa_secret "s3cr3t-value"', prompt="abng#")
    keeper.run("set system timezone UTC", prompt="abng#")
    keeper.run("discard", prompt="abng#")
    keeper.close()
    text = (home / ".abng_history").read_text()
    assert "hunter2" not in text and "s3cr3t-value" not in text and "set system timezone UTC" in text
    assert (home / ".abng_history").stat().st_mode & 0o077 == 0
    custom = home / "custom_history"
    third = Term(abngd.socket_path, home, "--history-file", str(custom))
    third.expect("abng>")
    third.run("show system")
    third.close()
    assert "show system" in custom.read_text()


def test_ctrl_c_clears_the_line_and_ctrl_d_leaves(term: Term) -> None:
    term.send("show bogus words")
    term.child.sendintr()
    term.expect("abng>")
    out = term.run("show version")
    assert "syntax error" not in out
    term.child.sendcontrol("d")
    term.child.expect(__import__("pexpect").EOF, timeout=5)


def test_without_abngd_the_shell_still_works(home: Path) -> None:
    t = Term(home / "missing.sock", home)
    try:
        t.expect("abng>")
        assert "error: cannot connect to abngd" in t.run("show version")
        t.send("show ?")  # the keywords need no abngd
        t.expect("abng>")
        assert "subscribers" in t.before
        t.send("\x15")
        assert "cannot connect" in t.submit("configure")  # stays in operational mode
        assert "Total" not in t.submit("show subscribers summary", prompt="abng>")
    finally:
        assert t.close() == 0

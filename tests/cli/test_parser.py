"""The one parser: execution, abbreviations, completion and ``?`` help agree (no terminal)."""

from __future__ import annotations

import re

import pytest

from abng.cli.errors import SyntaxErr
from abng.cli.parser import ENTER, Pipe, candidates, complete, parse
from abng.cli.tokens import TokenError, split_commands, tokenize
from abng.cli.tree import CONFIGURATION, OPERATIONAL, Node
from tests.cli.context import StaticContext

CTX = StaticContext()


def op(line: str) -> tuple[str, dict[str, object]]:
    p = parse(line, OPERATIONAL, CTX)
    return p.handler, p.args


def cfg(line: str) -> tuple[str, dict[str, object]]:
    p = parse(line, CONFIGURATION, CTX, config_mode=True)
    return p.handler, p.args


def words(line: str, root: Node = OPERATIONAL, config_mode: bool = False) -> list[str]:
    return [c.word for c in complete(line, root, CTX, config_mode=config_mode)]


def help_words(line: str, root: Node = OPERATIONAL, config_mode: bool = False) -> list[str]:
    return [w for w, _ in candidates(line, root, CTX, config_mode=config_mode)]


@pytest.mark.parametrize(
    ("line", "handler", "args"),
    [
        ("show version", "show_version", {}),
        ("sh ver", "show_version", {}),
        ("sh sub sum", "show_subscribers_summary", {}),
        ("show subscribers detail 12", "show_subscriber_detail", {"detail": 12}),
        ("show sub ty pp user alice", "show_subscribers", {"type": "pppoe", "username": "alice"}),
        ("show sub interface trunk0.101.2 ip 10.0.1.1", "show_subscribers",
         {"interface": "trunk0.101.2", "ip": "10.0.1.1"}),
        ("show bgp summary", "show_bgp_summary", {}),
        ("show configuration routing bgp", "show_configuration", {"path": ["routing", "bgp"]}),
        ("show conf pp", "show_configuration", {"path": ["pppoe"]}),
        ("request subscriber disconnect 7", "request_disconnect", {"session_id": 7}),
        ("req sub disc interface trunk0.101.2", "request_disconnect_interface",
         {"interface": "trunk0.101.2"}),
        ('request radius test bob "pass word"', "request_radius_test",
         {"username": "bob", "password": "pass word"}),
        ("monitor subscribers", "monitor_subscribers", {}),
        ("conf", "configure", {}),
    ],
)  # fmt: skip
def test_operational_commands(line: str, handler: str, args: dict[str, object]) -> None:
    assert op(line) == (handler, args)


@pytest.mark.parametrize(
    ("line", "handler", "args"),
    [
        ('set system hostname "AthenaBNG 01"', "config_set",
         {"path": ["system", "hostname"], "value": "AthenaBNG 01"}),
        ("set routing bgp asn 64512", "config_set", {"path": ["routing", "bgp", "asn"], "value": "64512"}),
        ("set pp mt 1400", "config_set", {"path": ["pppoe", "mtu"], "value": "1400"}),
        ("set pppoe auth chap", "config_set", {"path": ["pppoe", "auth"], "value": "chap"}),
        ("set aaa pools new network 10.9.0.0/24", "config_set",
         {"path": ["aaa", "pools", "new", "network"], "value": "10.9.0.0/24"}),
        ("delete pppoe auth pap", "config_delete", {"path": ["pppoe", "auth", "pap"]}),
        ("delete routing bgp", "config_delete", {"path": ["routing", "bgp"]}),
        ("show", "config_show", {}),
        ("show system", "config_show", {"path": ["system"]}),
        ("commit", "commit", {}),
        ("commit check", "commit_check", {}),
        ('commit comment "new asn"', "commit", {"comment": "new asn"}),
        ("rollback 3", "rollback", {"n": 3}),
        ("rollback", "rollback", {}),
        ("run show sub sum", "show_subscribers_summary", {}),
        ("exit", "exit_configuration", {}),
    ],
)  # fmt: skip
def test_configuration_commands(line: str, handler: str, args: dict[str, object]) -> None:
    assert cfg(line) == (handler, args)


@pytest.mark.parametrize(
    ("line", "message", "column"),
    [
        ("show bogus", "syntax error at 'bogus'", 5),
        ("show s", "ambiguous 's': system, subscribers", 5),
        ("show", "incomplete command", 4),
        ("show subscribers detail x", "detail: expected a number", 24),
        ("show subscribers type ppx", "type: 'ppx' is not one of pppoe, dhcp", 22),
        ("show subscribers summary type dhcp", "syntax error at 'type'", 25),
        ("show sub username", "username: missing value", 17),
        ("show version | frob", "unknown pipe 'frob'", 15),
        ("show version | match (", "invalid regular expression", 21),
        ("show version | last x", "expected a number", 20),
        ("show version | compare", "unknown pipe 'compare'", 15),
    ],
)
def test_operational_errors(line: str, message: str, column: int) -> None:
    with pytest.raises(SyntaxErr) as exc:
        parse(line, OPERATIONAL, CTX)
    assert message in exc.value.message
    assert exc.value.column == column


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("set pppoe mtu 9000", "pppoe.mtu: 9000 is out of range: expected int, 1280..1500"),
        ("set pppoe mtu abc", "pppoe.mtu: invalid value 'abc': expected int, 1280..1500"),
        ("set system log_level loud", "system.log_level: invalid value 'loud': expected one of debug, info"),
        ("set pppoe auth eap", "pppoe.auth: invalid value 'eap': expected one of pap, chap"),
        ("set pppoe enabled maybe", "pppoe.enabled: invalid value 'maybe': expected bool"),
        ("set pppoe mtux 1", "unknown key 'mtux' at pppoe (did you mean 'mtu'?)"),
        ("set pppoe m 1", "ambiguous key 'm' at pppoe: mtu, mru, max_sessions"),
        ("set pppoe", "pppoe is incomplete: expecting enabled"),
        ("set pppoe mtu", "pppoe.mtu: missing value"),
        ("set system hostname a b", "one value expected"),
        ("set demux profiles x name q", "demux.profiles is a list: expected an index"),
        ("rollback 50", "rollback: 50 is out of range (0..49)"),
        ("delete pppoe mtu 5", "pppoe.mtu: unexpected '5'"),
    ],
)
def test_configuration_errors_name_path_and_rule(line: str, message: str) -> None:
    with pytest.raises(SyntaxErr) as exc:
        cfg(line)
    assert message in exc.value.message


def test_pipes_parse_and_combine() -> None:
    p = parse("show subscribers | match ppp | except alice | count", OPERATIONAL, CTX)
    assert [x.kind for x in p.pipes] == ["match", "except", "count"]
    assert isinstance(p.pipes[0].arg, re.Pattern) and p.pipes[0].arg.pattern == "ppp"
    p = parse("show configuration|display json|no-more|last 5", OPERATIONAL, CTX)
    assert p.pipes == [Pipe("display", "json"), Pipe("no-more"), Pipe("last", 5)]
    p = parse("show | compare", CONFIGURATION, CTX, config_mode=True)
    assert p.handler == "config_show" and p.pipes == [Pipe("compare")]
    assert parse("show conf | d s", OPERATIONAL, CTX).pipes == [Pipe("display", "set")]
    p = parse("sh ver | m ker | c", OPERATIONAL, CTX)
    assert [x.kind for x in p.pipes] == ["match", "count"]


def test_completion_of_keywords_and_abbreviations() -> None:
    assert words("") == ["show", "request", "monitor", "configure", "exit", "quit"]
    assert words("sh") == ["show"]
    assert words("show s") == ["system", "subscribers"]
    assert words("show sub") == ["subscribers"]
    assert words("sh sub ") == ["summary", "detail", "type", "username", "ip", "interface", "state"]
    # after a filter only the other filters may follow
    assert words("show sub type dhcp ") == ["username", "ip", "interface", "state"]
    assert words("show sub type ") == ["pppoe", "dhcp"]


def test_dynamic_completion_of_sessions_and_interfaces() -> None:
    assert words("show subscribers detail ") == ["1", "12"]
    assert words("request subscriber disconnect 1") == ["1", "12"]
    assert words("req sub disc interface trunk0.1") == ["trunk0.101.2", "trunk0.112.5"]
    assert words("rollback ", CONFIGURATION, True) == ["0", "1"]


def test_completion_from_the_schema() -> None:
    tops = words("set ", CONFIGURATION, True)
    assert {"system", "pppoe", "dhcp", "radius", "routing", "aaa"} <= set(tops)
    assert words("set pppoe m", CONFIGURATION, True) == ["mtu", "mru", "max_sessions"]
    assert words("set system log_level ", CONFIGURATION, True) == ["debug", "info", "warning", "error"]
    assert words("set pppoe enabled ", CONFIGURATION, True) == ["true", "false"]
    assert words("set pppoe auth ", CONFIGURATION, True) == ["pap", "chap"]
    # map keys from the configuration being edited
    assert words("set aaa pools ", CONFIGURATION, True) == ["ppp", "ipoe"]
    assert words("show configuration rou", OPERATIONAL) == ["routing"]
    assert words("delete pppoe auth ", CONFIGURATION, True) == []  # nothing configured in CTX
    data = {"pppoe": {"auth": ["pap", "chap"]}}
    assert [
        c.word for c in complete("delete pppoe auth ", CONFIGURATION, StaticContext(data), config_mode=True)
    ] == [
        "pap",
        "chap",
    ]


def test_help_lists_placeholders_and_enter() -> None:
    h = candidates("set pppoe mtu ", CONFIGURATION, CTX, config_mode=True)
    assert h[0][0] == "<int>" and "1280..1500" in h[0][1] and "PPP MTU" in h[0][1]
    assert ENTER in help_words("show version ")
    assert ENTER not in help_words("show ")
    assert "<password>" in help_words("request radius test bob ")
    assert help_words("show version | ") == ["match", "except", "count", "last", "no-more", "display"]
    assert "compare" in help_words("show | ", CONFIGURATION, True)
    assert help_words("show version | display ") == ["json", "set"]
    assert help_words("show version | match ") == ["<regex>"]


def test_every_node_is_reachable_by_its_own_completion() -> None:
    """Walk both trees: every keyword is offered by Tab at its place and parses back."""

    def walk(node: Node, prefix: str, root: Node, config_mode: bool) -> int:
        count = 0
        offered = help_words(prefix, root, config_mode)
        for child in node.children:
            if child.positional:
                continue
            assert child.keyword in offered, (prefix, child.keyword)
            line = f"{prefix}{child.keyword} "
            if child.handler and child.arg is None:
                assert parse(line, root, CTX, config_mode=config_mode).handler == child.handler
            if child.arg is None:
                count += 1 + walk(child, line, root, config_mode)
        return count

    assert walk(OPERATIONAL, "", OPERATIONAL, False) > 20
    assert walk(CONFIGURATION, "", CONFIGURATION, True) > 10


def test_tokenizer() -> None:
    toks = tokenize('set system hostname "a|b; c" | match x')
    assert [t.value for t in toks] == ["set", "system", "hostname", "a|b; c", "|", "match", "x"]
    assert toks[3].quoted and toks[3].text == '"a|b; c"'
    assert split_commands('configure; set system hostname "x;y"; commit') == [
        "configure",
        'set system hostname "x;y"',
        "commit",
    ]
    with pytest.raises(TokenError):
        tokenize('set system hostname "open')
    assert tokenize('set x "ope', partial=True)[-1].value == "ope"

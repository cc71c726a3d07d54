"""The command trees as data (operational ``abng>`` and configuration ``abng#``).

One parser (:mod:`abng.cli.parser`) walks these trees for execution, Tab completion, ``?`` help
and unique-prefix abbreviation, so the four cannot drift apart.  A node is a keyword (``show``)
or a positional argument (``<id>``); a keyword node with ``arg`` takes one value after it
(``username <name>``).  ``handler`` names the command that runs when the line ends at that node
(see :mod:`abng.cli.commands`).  ``loop`` nodes are filters: after one, its siblings may follow.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Arg(enum.StrEnum):
    WORD = "word"
    TEXT = "text"  # a quoted string (or one word)
    INT = "int"
    SESSION_ID = "session-id"  # completed from the live session table
    INTERFACE = "interface"  # completed from sessions and show.interfaces
    CHOICE = "choice"  # one of Node.choices
    ROLLBACK = "rollback"  # 0..49 (D18), completed from config.history
    CONFIG_SECTION = "config-section"  # a configuration path (rest of the line)
    CONFIG_SET = "config-set"  # a configuration path and its value (rest of the line)
    CONFIG_DELETE = "config-delete"  # a configuration path, or a leaf-list value


#: argument kinds that consume the rest of the line
GREEDY = frozenset({Arg.CONFIG_SECTION, Arg.CONFIG_SET, Arg.CONFIG_DELETE})


@dataclass(frozen=True)
class Node:
    keyword: str  # "show", or "<id>" for a positional argument
    help: str
    handler: str | None = None
    arg: Arg | None = None
    choices: tuple[str, ...] = ()
    children: tuple[Node, ...] = ()
    loop: bool = False

    @property
    def positional(self) -> bool:
        return self.keyword.startswith("<")

    @property
    def dest(self) -> str:
        return self.keyword.strip("<>").replace("-", "_")


def _filters(handler: str) -> tuple[Node, ...]:
    return (
        Node("type", "Only sessions of this type", handler, Arg.CHOICE, ("pppoe", "dhcp"), loop=True),
        Node("username", "Only this username", handler, Arg.WORD, loop=True),
        Node("ip", "Only this IPv4 address", handler, Arg.WORD, loop=True),
        Node("interface", "Only this access or PPP interface", handler, Arg.INTERFACE, loop=True),
        Node("state", "Only sessions in this state", handler, Arg.CHOICE,
             ("starting", "active", "terminating"), loop=True),
    )  # fmt: skip


SHOW_OPERATIONAL = Node("show", "Show information", children=(
    Node("version", "Software version", "show_version"),
    Node("system", "System status: uptime, sessions, dataplane", "show_system"),
    Node("subscribers", "Subscriber sessions", "show_subscribers", children=(
        Node("summary", "Session counts by type", "show_subscribers_summary"),
        Node("detail", "Everything about one session", "show_subscriber_detail", Arg.SESSION_ID),
        *_filters("show_subscribers"),
    )),
    Node("interfaces", "Network interfaces", "show_interfaces"),
    Node("vlans", "Dynamic VLAN interfaces (demux)", "show_vlans"),
    Node("routes", "Routing table (subscriber routes)", "show_routes"),
    Node("bgp", "BGP", children=(Node("summary", "BGP neighbors and state", "show_bgp_summary"),)),
    Node("qos", "Per-subscriber shaping", "show_qos"),
    Node("configuration", "Running configuration", "show_configuration", children=(
        Node("<section>", "Configuration section", "show_configuration", Arg.CONFIG_SECTION),
    )),
))  # fmt: skip

REQUEST = Node("request", "Make system-level requests", children=(
    Node("subscriber", "Subscriber sessions", children=(
        Node("disconnect", "Disconnect sessions (Admin-Reset)", children=(
            Node("<session-id>", "Session id", "request_disconnect", Arg.SESSION_ID),
            Node("interface", "Every session on an interface", "request_disconnect_interface",
                 Arg.INTERFACE),
        )),
        Node("rate", "Change a session's shaping rates in place", children=(
            Node("<session-id>", "Session id", children=(
                Node("down", "Download rate: bps or <n>kbit|mbit|gbit", "request_rate", Arg.WORD, loop=True),
                Node("up", "Upload rate: bps or <n>kbit|mbit|gbit", "request_rate", Arg.WORD, loop=True),
            ), arg=Arg.SESSION_ID),
        )),
    )),
    Node("radius", "RADIUS", children=(
        Node("test", "Test RADIUS authentication", children=(
            Node("<username>", "User name", children=(
                Node("<password>", "Password", "request_radius_test", Arg.TEXT),
            ), arg=Arg.WORD),
        )),
    )),
))  # fmt: skip

OPERATIONAL = Node("", "operational mode", children=(
    SHOW_OPERATIONAL,
    REQUEST,
    Node("monitor", "Watch live events", children=(
        Node("subscribers", "Session and configuration events until Ctrl-C", "monitor_subscribers"),
    )),
    Node("configure", "Enter configuration mode", "configure"),
    Node("exit", "Leave the CLI", "exit"),
    Node("quit", "Leave the CLI", "exit"),
))  # fmt: skip

CONFIGURATION = Node("", "configuration mode", children=(
    Node("set", "Set a configuration value", children=(
        Node("<path>", "Configuration path and value", "config_set", Arg.CONFIG_SET),
    )),
    Node("delete", "Delete a configuration value or section", children=(
        Node("<path>", "Configuration path", "config_delete", Arg.CONFIG_DELETE),
    )),
    Node("show", "Show the candidate configuration ('show | compare' for the changes)", "config_show",
         children=(Node("<section>", "Configuration section", "config_show", Arg.CONFIG_SECTION),)),
    Node("commit", "Validate and apply the candidate configuration", "commit", children=(
        Node("check", "Validate only", "commit_check"),
        Node("comment", "Commit with a comment", "commit", Arg.TEXT),
    )),
    Node("rollback", "Load an archived configuration into the candidate", "rollback", children=(
        Node("<n>", "0 = running, 1 = before the last commit ... 49", "rollback", Arg.ROLLBACK),
    )),
    Node("discard", "Drop the candidate changes", "discard"),
    Node("compare", "Show the candidate changes (same as 'show | compare')", "compare"),
    Node("run", "Run an operational command", children=OPERATIONAL.children[:3]),
    Node("exit", "Leave configuration mode", "exit_configuration"),
    Node("quit", "Leave configuration mode", "exit_configuration"),
))  # fmt: skip


@dataclass(frozen=True)
class PipeSpec:
    keyword: str
    help: str
    arg: str | None = None  # placeholder of its argument
    sub: tuple[str, ...] = ()  # fixed second word (display json)


PIPES = (
    PipeSpec("match", "Show only lines matching a regular expression", "<regex>"),
    PipeSpec("except", "Hide lines matching a regular expression", "<regex>"),
    PipeSpec("count", "Count the lines"),
    PipeSpec("last", "Show only the last n lines", "<n>"),
    PipeSpec("no-more", "Do not paginate"),
    PipeSpec("display", "Change the output format (json; set for configuration)", sub=("json", "set")),
)
#: only after ``show`` in configuration mode
COMPARE_PIPE = PipeSpec("compare", "Show the changes against the running configuration")

"""Command handlers: one function per ``handler`` name in :mod:`abng.cli.tree`.

A handler gets the shell (RPC access, mode, width), the parsed arguments and the display
options, and returns an :class:`Output`: lines of text and, for ``| display json``, the data.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from abng.cli import views
from abng.cli.errors import CliError
from abng.cli.monitor import events
from abng.cli.pipes import DisplayOptions
from abng.cli.render import now
from abng.config.rates import human_rate

if TYPE_CHECKING:
    from abng.cli.shell import Shell


@dataclass
class Output:
    lines: Iterable[str] = ()
    data: Any = None
    failed: bool = False  # the command ran but reports a failure (-c exits 1)
    config_path: list[str] | None = None  # set when ``data`` is configuration (for | display set)


Handler = Callable[["Shell", dict[str, Any], DisplayOptions], Output]
HANDLERS: dict[str, Handler] = {}


def handler(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[name] = fn
        return fn

    return register


# --- operational ------------------------------------------------------------------------


@handler("show_version")
def show_version(sh: Shell, args: dict[str, Any], opts: DisplayOptions) -> Output:
    v = sh.call("system.version")
    return Output(views.version(v), v)


@handler("show_system")
def show_system(sh: Shell, args: dict[str, Any], opts: DisplayOptions) -> Output:
    s = sh.call("show.system")
    return Output(views.system(s), s)


@handler("show_subscribers")
def show_subscribers(sh: Shell, args: dict[str, Any], opts: DisplayOptions) -> Output:
    filters: dict[str, Any] = {
        k: args[k] for k in ("type", "username", "ip", "interface", "state") if k in args
    }
    result = sh.call("subscribers.list", filters)
    return Output(views.subscribers(result, now(), sh.width()), result)


@handler("show_subscribers_summary")
def show_subscribers_summary(sh: Shell, args: dict[str, Any], opts: DisplayOptions) -> Output:
    s = sh.call("subscribers.summary")
    return Output(views.subscribers_summary(s), s)


@handler("show_subscriber_detail")
def show_subscriber_detail(sh: Shell, args: dict[str, Any], opts: DisplayOptions) -> Output:
    s = sh.call("subscribers.get", {"session_id": args["detail"]})
    return Output(views.subscriber_detail(s), s)


@handler("show_interfaces")
def show_interfaces(sh: Shell, args: dict[str, Any], opts: DisplayOptions) -> Output:
    items = sh.call("show.interfaces")
    return Output(views.interfaces(items, sh.width()), items)


@handler("show_vlans")
def show_vlans(sh: Shell, args: dict[str, Any], opts: DisplayOptions) -> Output:
    items = sh.call("show.vlans")
    return Output(views.vlans(items, now(), sh.width()), items)


@handler("show_routes")
def show_routes(sh: Shell, args: dict[str, Any], opts: DisplayOptions) -> Output:
    items = sh.call("show.routes")
    return Output(views.routes(items, sh.width()), items)


@handler("show_bgp_summary")
def show_bgp_summary(sh: Shell, args: dict[str, Any], opts: DisplayOptions) -> Output:
    b = sh.call("show.bgp")
    return Output(views.bgp_summary(b, sh.width()), b)


@handler("show_qos")
def show_qos(sh: Shell, args: dict[str, Any], opts: DisplayOptions) -> Output:
    items = sh.call("show.qos")
    return Output(views.qos(items, sh.width()), items)


def _configuration(sh: Shell, args: dict[str, Any], source: str) -> Output:
    path: list[str] = args.get("path", [])
    params: dict[str, Any] = {"source": source}
    if path:
        params["section"] = " ".join(path)
    data = sh.call("show.configuration", params)
    return Output(views.configuration(data, path), data, config_path=path)


@handler("show_configuration")
def show_configuration(sh: Shell, args: dict[str, Any], opts: DisplayOptions) -> Output:
    return _configuration(sh, args, "running")


@handler("request_disconnect")
def request_disconnect(sh: Shell, args: dict[str, Any], opts: DisplayOptions) -> Output:
    r = sh.call("request.subscriber.disconnect", {"session_id": args["session_id"]})
    return Output([f"Session {r.get('session_id')} disconnected."], r)


@handler("request_rate")
def request_rate(sh: Shell, args: dict[str, Any], opts: DisplayOptions) -> Output:
    params: dict[str, Any] = {"session_id": args["session_id"], "source": "cli"}
    for key, arg in (("rate_down", "down"), ("rate_up", "up")):
        if args.get(arg) is not None:
            params[key] = args[arg]
    r = sh.call("request.subscriber.rate", params)
    return Output(
        [
            f"Session {r.get('session_id')}: download {human_rate(r.get('rate_down'))}, "
            f"upload {human_rate(r.get('rate_up'))}."
        ],
        r,
    )


@handler("request_disconnect_interface")
def request_disconnect_interface(sh: Shell, args: dict[str, Any], opts: DisplayOptions) -> Output:
    r = sh.call("request.subscriber.disconnect_interface", {"interface": args["interface"]})
    ids = ", ".join(str(i) for i in r.get("disconnected", [])) or "none"
    return Output([f"{r.get('count', 0)} session(s) disconnected on {r.get('interface')}: {ids}"], r)


@handler("request_radius_test")
def request_radius_test(sh: Shell, args: dict[str, Any], opts: DisplayOptions) -> Output:
    r = sh.call("request.radius.test", {"username": args["username"], "password": args["password"]})
    lines = [f"RADIUS test for {args['username']}: {r.get('result')} (server {r.get('server') or '-'})"]
    for name, value in (r.get("attributes") or {}).items():
        lines.append(f"  {name} = {value}")
    return Output(lines, r, failed=r.get("result") != "accept")


@handler("monitor_subscribers")
def monitor_subscribers(sh: Shell, args: dict[str, Any], opts: DisplayOptions) -> Output:
    fmt = (lambda e: json.dumps(e, separators=(",", ":"))) if opts.json else views.event
    return Output(events(sh.socket_path, fmt), None)


@handler("configure")
def configure(sh: Shell, args: dict[str, Any], opts: DisplayOptions) -> Output:
    changed = sh.call("config.compare").get("changed")  # abngd unreachable: stay operational
    sh.mode = "configuration"
    lines = ["Entering configuration mode"]
    if changed:
        lines.append("The configuration has been changed but not committed")
    return Output(lines)


@handler("exit")
def exit_cli(sh: Shell, args: dict[str, Any], opts: DisplayOptions) -> Output:
    sh.done = True
    return Output()


# --- configuration ----------------------------------------------------------------------


@handler("config_set")
def config_set(sh: Shell, args: dict[str, Any], opts: DisplayOptions) -> Output:
    r = sh.call("config.set", {"path": args["path"], "value": args["value"]})
    return Output([], r)


@handler("config_delete")
def config_delete(sh: Shell, args: dict[str, Any], opts: DisplayOptions) -> Output:
    r = sh.call("config.delete", {"path": args["path"]})
    return Output([], r)


@handler("config_show")
def config_show(sh: Shell, args: dict[str, Any], opts: DisplayOptions) -> Output:
    if opts.compare:
        return compare(sh, args, opts)
    return _configuration(sh, args, "candidate")


@handler("compare")
def compare(sh: Shell, args: dict[str, Any], opts: DisplayOptions) -> Output:
    r = sh.call("config.compare")
    lines = r.get("diff", "").rstrip("\n").split("\n") if r.get("changed") else ["[no changes]"]
    return Output(lines, r)


def _commit(sh: Shell, params: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = sh.call("config.commit", {**params, "user": sh.user})
    return result


@handler("commit")
def commit(sh: Shell, args: dict[str, Any], opts: DisplayOptions) -> Output:
    params = {"comment": args["comment"]} if "comment" in args else {}
    r = _commit(sh, params)
    if not r.get("committed"):
        return Output(["commit complete (no changes)"], r)
    changes = ", ".join(r.get("changes") or [])
    return Output([f"commit complete (generation {r.get('generation')}): {changes}"], r)


@handler("commit_check")
def commit_check(sh: Shell, args: dict[str, Any], opts: DisplayOptions) -> Output:
    r = _commit(sh, {"check": True})
    changes = ", ".join(r.get("changes") or []) or "none"
    return Output([f"configuration check succeeds (changes: {changes})"], r)


@handler("rollback")
def rollback(sh: Shell, args: dict[str, Any], opts: DisplayOptions) -> Output:
    n = args.get("n", 0)
    r = sh.call("config.rollback", {"n": n})
    return Output([f"load complete (rollback {n} is in the candidate; 'commit' to apply)"], r)


@handler("discard")
def discard(sh: Shell, args: dict[str, Any], opts: DisplayOptions) -> Output:
    r = sh.call("config.discard")
    return Output(["candidate changes discarded"], r)


@handler("exit_configuration")
def exit_configuration(sh: Shell, args: dict[str, Any], opts: DisplayOptions) -> Output:
    lines = []
    sh.mode = "operational"  # leave even when abngd cannot say whether changes remain
    try:
        changed = sh.call("config.compare").get("changed")
    except CliError as exc:
        changed, lines = False, [f"warning: cannot check for uncommitted changes: {exc.message}"]
    if changed:
        lines.append("warning: uncommitted changes remain in the candidate ('commit' or 'discard' them)")
    return Output([*lines, "Exiting configuration mode"])


def run(sh: Shell, name: str, args: dict[str, Any], opts: DisplayOptions) -> Output:
    fn = HANDLERS.get(name)
    if fn is None:  # a tree node names a handler that does not exist: our bug
        raise CliError(f"internal error: no handler {name!r}")
    return fn(sh, args, opts)

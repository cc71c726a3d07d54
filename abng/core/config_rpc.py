"""``config.*``, ``show.configuration``, ``show.qos.profiles`` and ``auth.users`` on top of the
configuration store (abng.config.store; reference §4.1, D18, D20).

File work runs in a worker thread under the daemon's config lock (one writer at a time; the
store adds its own file lock against other processes).  Configuration leaving abngd is always
redacted, except ``auth.users`` which hands abng-api the password hashes it must verify.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from abng.core import errors as E
from abng.core import params as P
from abng.core.audit import redact_params
from abng.core.errors import RpcError
from abng.core.rpc import Connection

if TYPE_CHECKING:
    from abng.core.daemon import Daemon

METHODS = (
    "show.configuration", "show.qos.profiles", "auth.users", "config.show", "config.set", "config.delete",
    "config.compare", "config.commit", "config.discard", "config.rollback", "config.history", "config.schema",
)  # fmt: skip


def config_error(exc: Exception, code: int = E.INVALID_PARAMS) -> RpcError:
    """``ConfigError`` (has ``.issues``) or a path error (ValueError/KeyError) -> RpcError."""
    issues = getattr(exc, "issues", None)
    if code == E.CONFIG_INVALID:
        return RpcError(code, str(exc) or "configuration invalid", {"errors": issues or []})
    return RpcError(code, str(exc) or type(exc).__name__, issues)


def _path(params: dict[str, Any]) -> str | list[str]:
    path = params.get("path")
    if isinstance(path, str) and path.strip():
        return path
    if isinstance(path, list) and path and all(isinstance(t, str) for t in path):
        return path
    raise E.invalid_params("'path' must be a non-empty string or list of tokens")


def _section(tree: dict[str, Any], section: str | None) -> Any:
    if not section:
        return tree
    node: Any = tree
    for token in section.replace(".", " ").split():
        if isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]  # list elements by index, as config.set addresses them
        elif isinstance(node, dict) and token in node:
            node = node[token]
        else:
            raise RpcError(E.NOT_FOUND, f"configuration section '{section}' not found",
                           {"what": "section", "id": section})  # fmt: skip
    return node


def install(d: Daemon) -> None:
    store = d.config
    if store is None:
        for name in METHODS:
            d.rpc.register_unavailable(name, "config", "the configuration store is not available")
        return
    from abng.config.edit import unified_diff
    from abng.config.introspect import schema_tree
    from abng.config.redact import redact, redact_pair
    from abng.config.store import ConfigError

    reg = d.rpc.register

    async def locked(fn: Any, *args: Any, **kwargs: Any) -> Any:
        async with d.config_lock:
            try:
                return await asyncio.to_thread(fn, *args, **kwargs)
            except (ConfigError, ValueError, KeyError) as exc:
                raise config_error(exc) from exc

    async def show_configuration(params: dict[str, Any], conn: Connection) -> Any:
        source = P.opt_str(params, "source", ("running", "candidate")) or "running"
        section = P.opt_str(params, "section")
        getter = store.running_dict if source == "running" else store.candidate_dict
        return _section(redact(await asyncio.to_thread(getter)), section)

    async def config_set(params: dict[str, Any], conn: Connection) -> Any:
        path = _path(params)
        if "value" not in params:
            raise E.invalid_params("'value' is required")
        await locked(store.set, path, params["value"])
        return {"path": path, "value": redact_params("config.set", params)["value"]}  # D20

    async def config_delete(params: dict[str, Any], conn: Connection) -> Any:
        path = _path(params)
        await locked(store.delete, path)
        return {"path": path}

    def compare_redacted() -> str:  # the store's own diff would show secrets (D20)
        running, candidate = store.running_dict(), store.candidate_dict()
        if running == candidate:
            return ""
        return unified_diff(*redact_pair(running, candidate), "running", "candidate")

    async def config_compare(params: dict[str, Any], conn: Connection) -> Any:
        diff = await locked(compare_redacted)
        return {"changed": bool(diff), "diff": diff}

    async def config_commit(params: dict[str, Any], conn: Connection) -> Any:
        comment = P.opt_str(params, "comment")
        user = P.opt_str(params, "user")
        check = P.opt_bool(params, "check", False)
        return await d.commit_config(comment=comment, user=user, check=check)

    async def config_discard(params: dict[str, Any], conn: Connection) -> Any:
        await locked(store.discard)
        return {"discarded": True}

    async def config_rollback(params: dict[str, Any], conn: Connection) -> Any:
        n = P.req_int(params, "n", minimum=0)
        if n > 49:
            raise E.invalid_params("'n' must be 0..49", [{"path": "n", "message": "0..49"}])
        await locked(store.rollback, n)
        return {"n": n, "loaded": True}

    async def config_history(params: dict[str, Any], conn: Connection) -> Any:
        return await locked(store.history)

    async def config_schema(params: dict[str, Any], conn: Connection) -> Any:
        return schema_tree()

    async def auth_users(params: dict[str, Any], conn: Connection) -> Any:
        users = d.applied.api.users
        return {
            "generation": d.applied_generation,
            "users": [
                {"username": u.username, "password_hash": u.password_hash, "role": u.role} for u in users
            ],
        }

    async def qos_profiles(params: dict[str, Any], conn: Connection) -> Any:
        qos = d.applied.qos.model_dump(mode="json")
        return {"default": qos.get("default_overhead_profile"), "profiles": qos.get("overhead_profiles", {})}

    reg("show.configuration", show_configuration, mutating=False)
    reg("config.show", show_configuration, mutating=False)
    reg("config.set", config_set, mutating=True)
    reg("config.delete", config_delete, mutating=True)
    reg("config.compare", config_compare, mutating=False)
    reg("config.commit", config_commit, mutating=True)
    reg("config.discard", config_discard, mutating=True)
    reg("config.rollback", config_rollback, mutating=True)
    reg("config.history", config_history, mutating=False)
    reg("config.schema", config_schema, mutating=False)
    reg("auth.users", auth_users, mutating=False)
    reg("show.qos.profiles", qos_profiles, mutating=False)

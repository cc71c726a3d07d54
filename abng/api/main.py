"""``abng-api``: serve the REST API over HTTPS, or print a bcrypt hash (``hash-password``).

abng-api --config-dir D --run-dir R [--listen A] [--port P]
abng-api hash-password [--cost 12]     (stdin when not a terminal, else a prompt)
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import uvicorn

from abng.api.app import create_app
from abng.api.auth.passwords import hash_password
from abng.api.backend import Abngd, AbngdUnavailable
from abng.api.context import ApiContext
from abng.api.pump import refresh_users
from abng.api.settings import LoginLimits, SettingsError, WebhookPolicy, build_settings, load_secret
from abng.api.tls import ensure_pair, server_context
from abng.core.errors import RpcError
from abng.core.rpcclient import RpcClient

log = logging.getLogger("abng.api")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="abng-api", description="abng REST API (HTTPS)")
    p.add_argument(
        "--config-dir", type=Path, default=Path(os.environ.get("ABNG_CONFIG_DIR", "/opt/athena-bng/etc"))
    )
    p.add_argument(
        "--run-dir", type=Path, default=Path(os.environ.get("ABNG_RUN_DIR", "/opt/athena-bng/run"))
    )
    p.add_argument("--listen", help="override api.listen")
    p.add_argument("--port", type=int, help="override api.port")
    p.add_argument("--audit-log", type=Path, help="audit log file (default <run-dir>/audit.log)")
    p.add_argument("--wait", type=float, default=30.0, help="seconds to wait for abngd at start-up")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.add_argument(
        "--login-ip-failures",
        type=int,
        default=LoginLimits().ip_failures,
        help="failed logins per client address within 15 minutes before it is blocked",
    )
    p.add_argument("--webhook-attempts", type=int, default=WebhookPolicy().max_attempts)
    p.add_argument(
        "--webhook-backoff",
        type=float,
        default=WebhookPolicy().backoff_base,
        help="first retry delay in seconds (doubles each retry)",
    )
    sub = p.add_subparsers(dest="command")
    hp = sub.add_parser("hash-password", help="print a bcrypt hash for api.users")
    hp.add_argument("--cost", type=int, default=12, choices=range(4, 16), metavar="4..15")
    return p


def hash_password_command(cost: int) -> int:
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            print("abng-api: the passwords differ", file=sys.stderr)
            return 1
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    try:
        print(hash_password(password, cost))
    except ValueError as exc:
        print(f"abng-api: {exc}", file=sys.stderr)
        return 1
    return 0


async def _api_section(abngd: Abngd, wait: float) -> dict[str, Any]:
    deadline = time.monotonic() + wait
    while True:
        try:
            result = await abngd.call("config.show", {"section": "api", "source": "running"})
            break
        except AbngdUnavailable:
            if time.monotonic() >= deadline:
                raise
            await asyncio.sleep(0.2)
    if isinstance(result, dict) and isinstance(result.get("api"), dict):
        result = result["api"]
    return result if isinstance(result, dict) else {}


async def serve(args: argparse.Namespace, secret: bytes, from_env: bool) -> int:
    abngd = Abngd(RpcClient(args.run_dir / "abngd.sock"))
    try:
        section = await _api_section(abngd, args.wait)
    except AbngdUnavailable:
        log.error("abngd is not answering on %s", args.run_dir / "abngd.sock")
        return 1
    if section.get("enabled") is False:
        log.error("api.enabled is false in the running configuration: not starting")
        await abngd.close()
        return 0
    settings = build_settings(
        section,
        config_dir=args.config_dir,
        run_dir=args.run_dir,
        secret=secret,
        secret_from_env=from_env,
        listen=args.listen,
        port=args.port,
        audit_log=args.audit_log,
        login=LoginLimits(ip_failures=args.login_ip_failures),
        webhooks=WebhookPolicy(max_attempts=args.webhook_attempts, backoff_base=args.webhook_backoff),
    )
    cert, key, _ = ensure_pair(settings.config_dir, settings.tls_cert, settings.tls_key, settings.listen)
    ctx = ApiContext.build(settings, abngd)
    try:
        await refresh_users(ctx)
        config = uvicorn.Config(
            create_app(ctx),
            host=settings.listen,
            port=settings.port,
            ssl_certfile=str(cert),
            ssl_keyfile=str(key),
            log_level=args.log_level,
            access_log=False,
            server_header=False,
            proxy_headers=False,
            lifespan="on",
        )
        config.load()
        config.ssl = server_context(cert, key)  # TLS >= 1.2, our ciphers
        log.info("abng-api listening on https://%s:%d", settings.listen, settings.port)
        await uvicorn.Server(config).serve()
    finally:
        ctx.close()
        await abngd.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "hash-password":
        return hash_password_command(args.cost)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        secret, from_env = load_secret()
        return asyncio.run(serve(args, secret, from_env))
    except (SettingsError, FileNotFoundError, RpcError) as exc:
        print(f"abng-api: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())

"""Settings of abng-api, built once at start-up and injected into the app (STYLE §9).

The ``api`` section comes from abngd's running configuration (``config.show``); the secret
comes from ``ABNG_API_SECRET`` (seed page, D14); the rest are command-line knobs with
defaults an operator would expect.
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("abng.api")

SECRET_ENV = "ABNG_API_SECRET"  # noqa: S105 (a variable name)
MIN_SECRET_BYTES = 32
DEFAULT_PORT = 8443
DEFAULT_TOKEN_EXPIRY = 3600
MAX_BODY_BYTES = 64 * 1024


class SettingsError(Exception):
    """A setting that makes start-up impossible (reported to the operator, exit code 2)."""


@dataclass(frozen=True, slots=True)
class LoginLimits:
    """D13: per-username lockout and per-client-address limit on failed logins."""

    user_failures: int = 5  # failures within `window` lock the username
    window: int = 900  # seconds
    lock_seconds: int = 900
    ip_failures: int = 30  # failures within `window` from one address block that address
    max_pending: int = 8  # logins waiting for bcrypt beyond this get 429 at once
    tarpit: float = 1.0  # seconds a refused (429) login waits for its answer: caps a storm per connection


@dataclass(frozen=True, slots=True)
class WebhookPolicy:
    max_attempts: int = 6  # 1 try + 5 retries
    backoff_base: float = 2.0  # seconds: 2, 4, 8, 16, 32
    backoff_max: float = 300.0
    timeout: float = 5.0
    max_webhooks: int = 100
    concurrency: int = 16


@dataclass(frozen=True, slots=True)
class ApiSettings:
    config_dir: Path
    run_dir: Path
    secret: bytes
    secret_from_env: bool
    listen: str = "0.0.0.0"
    port: int = DEFAULT_PORT
    tls_cert: Path | None = None
    tls_key: Path | None = None
    token_expiry: int = DEFAULT_TOKEN_EXPIRY
    audit_log: Path | None = None
    max_body: int = MAX_BODY_BYTES
    login: LoginLimits = field(default_factory=LoginLimits)
    webhooks: WebhookPolicy = field(default_factory=WebhookPolicy)

    @property
    def socket_path(self) -> Path:
        return self.run_dir / "abngd.sock"

    @property
    def state_db(self) -> Path:
        """Shared login state (lockouts, per-address failures): one file for every worker."""
        return self.run_dir / "abng-api.db"

    @property
    def webhooks_file(self) -> Path:
        return self.config_dir / "webhooks.json"

    @property
    def audit_path(self) -> Path:
        return self.audit_log if self.audit_log is not None else self.run_dir / "audit.log"


def load_secret(env: dict[str, str] | None = None) -> tuple[bytes, bool]:
    """Return (secret, from_env).  D14: shorter than 32 bytes is refused; unset is random."""
    value = (env if env is not None else dict(os.environ)).get(SECRET_ENV)
    if value is None or value == "":
        log.warning(
            "%s is not set: using a random secret; tokens will not survive an API restart", SECRET_ENV
        )
        return secrets.token_bytes(MIN_SECRET_BYTES), False
    raw = value.encode()
    if len(raw) < MIN_SECRET_BYTES:
        raise SettingsError(
            f"{SECRET_ENV} is {len(raw)} bytes long; it must be at least {MIN_SECRET_BYTES} bytes "
            "(generate one with: openssl rand -base64 48)"
        )
    return raw, True


def _int(section: dict[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    value = section.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise SettingsError(f"api.{key}: expected an integer {lo}..{hi}, got {value!r}")
    return value


def _path(section: dict[str, Any], key: str) -> Path | None:
    value = section.get(key)
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise SettingsError(f"api.{key}: expected a path, got {value!r}")
    return Path(value)


def build_settings(
    api_section: dict[str, Any],
    *,
    config_dir: Path,
    run_dir: Path,
    secret: bytes,
    secret_from_env: bool,
    listen: str | None = None,
    port: int | None = None,
    audit_log: Path | None = None,
    login: LoginLimits | None = None,
    webhooks: WebhookPolicy | None = None,
) -> ApiSettings:
    """Combine the ``api`` section with command-line overrides (which win)."""
    listen_cfg = api_section.get("listen") or "0.0.0.0"
    if not isinstance(listen_cfg, str):
        raise SettingsError(f"api.listen: expected an address, got {listen_cfg!r}")
    tls_cert, tls_key = _path(api_section, "tls_cert"), _path(api_section, "tls_key")
    if (tls_cert is None) != (tls_key is None):
        raise SettingsError("api.tls_cert and api.tls_key must be given together")
    return ApiSettings(
        config_dir=config_dir,
        run_dir=run_dir,
        secret=secret,
        secret_from_env=secret_from_env,
        listen=listen if listen is not None else listen_cfg,
        port=port if port is not None else _int(api_section, "port", DEFAULT_PORT, 1, 65535),
        tls_cert=tls_cert,
        tls_key=tls_key,
        token_expiry=_int(api_section, "token_expiry", DEFAULT_TOKEN_EXPIRY, 60, 7 * 86400),
        audit_log=audit_log if audit_log is not None else _path(api_section, "audit_log"),
        login=login or LoginLimits(),
        webhooks=webhooks or WebhookPolicy(),
    )

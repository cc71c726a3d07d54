"""Everything a request may need, built once at start-up and hung on ``app.state.ctx``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from abng.api.audit import AuditLog
from abng.api.auth.lockout import LoginGuard
from abng.api.auth.passwords import PasswordChecker
from abng.api.auth.tokens import TokenService
from abng.api.auth.users import UserDirectory
from abng.api.backend import Abngd
from abng.api.metrics import ApiCounters
from abng.api.settings import ApiSettings
from abng.api.webhooks.delivery import Dispatcher
from abng.api.webhooks.store import WebhookStore


@dataclass(slots=True)
class ApiContext:
    settings: ApiSettings
    abngd: Abngd
    tokens: TokenService
    users: UserDirectory
    guard: LoginGuard
    checker: PasswordChecker
    audit: AuditLog
    webhooks: WebhookStore
    counters: ApiCounters = field(default_factory=ApiCounters)
    dispatcher: Dispatcher | None = None  # only in the process that delivers

    @classmethod
    def build(cls, settings: ApiSettings, abngd: Abngd) -> ApiContext:
        settings.run_dir.mkdir(parents=True, exist_ok=True)
        return cls(
            settings=settings,
            abngd=abngd,
            tokens=TokenService(settings.secret, settings.token_expiry),
            users=UserDirectory(),
            guard=LoginGuard(settings.state_db, settings.login),
            checker=PasswordChecker(settings.login.max_pending),
            audit=AuditLog(settings.audit_path),
            webhooks=WebhookStore(settings.webhooks_file, settings.webhooks.max_webhooks),
        )

    def close(self) -> None:
        self.checker.close()
        self.guard.close()
        self.audit.close()


def get_ctx(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


def acting(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` plus ``user``: abngd's audit log names the API user behind a mutating call."""
    principal = getattr(request.state, "principal", None)
    if principal is not None:
        params["user"] = f"api:{principal.username}"
    return params

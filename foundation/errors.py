"""One error hierarchy for every layer, each error with a stable machine-readable code.

Codes are part of the public contract (JSON API bodies, CLI output, logs): once
published a code keeps its meaning. ``detail`` is for humans and may change; it must
never contain a secret, a token or a credential field value.
"""

from __future__ import annotations

from typing import ClassVar


class CredshareError(Exception):
    """Base of every error credshare raises on purpose."""

    code: ClassVar[str] = "internal_error"
    http_status: ClassVar[int] = 500

    def __init__(self, detail: str = "", *, code: str | None = None) -> None:
        super().__init__(detail or self.__class__.__name__)
        self.detail = detail
        if code is not None:
            self.code = code  # type: ignore[misc]  # per-instance refinement of the class code

    def to_dict(self) -> dict[str, str]:
        return {"error": self.code, "detail": self.detail}


class ConfigError(CredshareError):
    """The environment or a configuration file is unusable."""

    code = "config_invalid"


class StoreError(CredshareError):
    """A storage operation was refused or failed."""

    code = "store_error"
    http_status = 500


class InvalidQueryError(StoreError):
    """A filter, update or document uses something outside the supported subset."""

    code = "store_invalid_query"


class DuplicateKeyError(StoreError):
    """A write would break a unique index; nothing was written."""

    code = "duplicate_key"
    http_status = 409


class StoreUnavailableError(StoreError):
    """The store cannot be reached or is locked beyond the wait limit."""

    code = "store_unavailable"
    http_status = 503


class InputError(CredshareError):
    """A request or command input is unusable; nothing was changed."""

    code = "input_invalid"
    http_status = 400


class NotFoundError(CredshareError):
    """What the request names does not exist (or is not the caller's)."""

    code = "not_found"
    http_status = 404


class AuthenticationError(CredshareError):
    """The caller did not prove who it is (missing or wrong token or password)."""

    code = "unauthenticated"
    http_status = 401


class RateLimitedError(CredshareError):
    """Too many attempts; the caller must wait before trying again."""

    code = "rate_limited"
    http_status = 429


class ForbiddenError(CredshareError):
    """The caller is known but may not do this (yet)."""

    code = "forbidden"
    http_status = 403


class ConflictError(CredshareError):
    """The request clashes with what exists (for example an account with that e-mail)."""

    code = "conflict"
    http_status = 409


class VaultError(CredshareError):
    """Sealed vault data cannot be opened: the wrong key, or the data was altered."""

    code = "vault_unreadable"
    http_status = 500


class CsrfError(InputError):
    """A state-changing request came without a valid anti-forgery token; nothing was changed."""

    code = "csrf_invalid"

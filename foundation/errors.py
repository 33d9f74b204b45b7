"""One error hierarchy for every layer, each error with a stable machine-readable code and the
stage it belongs to.

Codes are part of the public contract (JSON API bodies, CLI output, logs): once
published a code keeps its meaning. ``detail`` is for humans and may change; it must
never contain a secret, a token or a credential field value.

Every error is made the same way, ``XError(detail, *, code=..., stage=...)``: a class has
its code and stage, and an instance may refine either. The stage is a small fixed vocabulary
(:data:`Stage`): the verification report's check names (:mod:`credshare.foundation.checks`),
so a verifier reports a refusal under the check it fails by reading ``exc.stage``, plus the
stages of everything else (``input``, ``auth``, ``store``, ``log``, ``config``, ``internal``).
Code that knows better than the raiser which stage it is in (a KB-JWT is parsed with the same
rules as the issuer's JWT) says so with :func:`in_stage`.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import ClassVar, Iterator, Literal, get_args

from credshare.foundation.checks import CheckName

Stage = CheckName | Literal["input", "auth", "store", "log", "config", "internal"]
STAGES: frozenset[str] = frozenset(name for part in get_args(Stage) for name in get_args(part))


class CredshareError(Exception):
    """Base of every error credshare raises on purpose."""

    code: ClassVar[str] = "internal_error"
    http_status: ClassVar[int] = 500
    stage: Stage = "internal"

    def __init__(self, detail: str = "", *, code: str | None = None, stage: Stage | None = None) -> None:
        super().__init__(detail or self.__class__.__name__)
        self.detail = detail
        if code is not None:
            self.code = code  # type: ignore[misc]  # per-instance refinement of the class code
        if stage is not None:
            self.restage(stage)

    def restage(self, stage: Stage) -> None:
        """Say which stage this error belongs to, when its raiser could not know."""
        if stage not in STAGES:
            raise ValueError(f"unknown error stage {stage!r}")
        self.stage = stage

    def to_dict(self) -> dict[str, str]:
        return {"error": self.code, "detail": self.detail}


@contextmanager
def in_stage(stage: Stage) -> Iterator[None]:
    """Every :class:`CredshareError` raised inside belongs to ``stage``, whatever its code."""
    try:
        yield
    except CredshareError as exc:
        exc.restage(stage)
        raise


class ConfigError(CredshareError):
    """The environment or a configuration file is unusable."""

    code = "config_invalid"
    stage = "config"


class StoreError(CredshareError):
    """A storage operation was refused or failed."""

    code = "store_error"
    stage = "store"
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
    stage = "input"
    http_status = 400


class NotFoundError(CredshareError):
    """What the request names does not exist (or is not the caller's)."""

    code = "not_found"
    stage = "input"
    http_status = 404


class AuthenticationError(CredshareError):
    """The caller did not prove who it is (missing or wrong token or password)."""

    code = "unauthenticated"
    stage = "auth"
    http_status = 401


class RateLimitedError(CredshareError):
    """Too many attempts; the caller must wait before trying again."""

    code = "rate_limited"
    stage = "auth"
    http_status = 429


class ForbiddenError(CredshareError):
    """The caller is known but may not do this (yet)."""

    code = "forbidden"
    stage = "auth"
    http_status = 403


class ConflictError(CredshareError):
    """The request clashes with what exists (for example an account with that e-mail)."""

    code = "conflict"
    stage = "input"
    http_status = 409


class VaultError(CredshareError):
    """Sealed vault data cannot be opened: the wrong key, or the data was altered."""

    code = "vault_unreadable"
    stage = "store"
    http_status = 500


class CsrfError(InputError):
    """A state-changing request came without a valid anti-forgery token; nothing was changed."""

    code = "csrf_invalid"

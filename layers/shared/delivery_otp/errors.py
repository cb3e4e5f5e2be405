"""Domain errors. Each carries the HTTP status and machine-readable code it maps to, so the mapping
to answers lives in one place (:mod:`delivery_otp.http`) and handlers never build error bodies."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 400
    code = "BAD_REQUEST"

    def __init__(
        self, message: str, *, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        # Some answers carry fields of their own beside the error, or headers (Retry-After).
        self.body = body
        self.headers = headers or {}


class InvalidInput(DomainError):
    status = 422
    code = "INVALID_INPUT"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class MalformedRequest(DomainError):
    status = 400
    code = "MALFORMED_REQUEST"


class PayloadTooLarge(DomainError):
    status = 413
    code = "PAYLOAD_TOO_LARGE"


class NotFound(DomainError):
    status = 404
    code = "NOT_FOUND"


class Conflict(DomainError):
    status = 409
    code = "CONFLICT"


class TooManyDelegates(Conflict):
    code = "TOO_MANY_DELEGATES"


class DeliveryStillOpen(Conflict):
    code = "DELIVERY_OPEN"


class ReleaseLimit(Conflict):
    code = "RELEASE_LIMIT"


class PersonalDataErased(Conflict):
    code = "PERSONAL_DATA_ERASED"


class StaleAttempt(Conflict):
    """A failed attempt reported against a code that is no longer the delivery's current one."""

    code = "STALE_ATTEMPT"


class Gone(DomainError):
    status = 410
    code = "GONE"


class DateAlreadyEnded(DomainError):
    status = 422
    code = "DELIVERY_DATE_ENDED"


class DependencyUnavailable(DomainError):
    """A store, the mail service or the secret store could not be reached: fail closed."""

    status = 503
    code = "SERVICE_UNAVAILABLE"


class Forbidden(DomainError):
    status = 403
    code = "FORBIDDEN"


class TooManyRequests(DomainError):
    status = 429
    code = "TOO_MANY_WRONG_CODES"


class TooManyResends(DomainError):
    status = 429
    code = "TOO_MANY_RESENDS"


class Locked(DomainError):
    status = 423
    code = "LOCKED"


class IdempotencyKeyReused(DomainError):
    status = 422
    code = "IDEMPOTENCY_KEY_REUSED"


class RequestInProgress(DomainError):
    status = 409
    code = "REQUEST_IN_PROGRESS"


def unknown_delivery(delivery_id: str) -> NotFound:
    """The one answer for an id that is not registered, is malformed, or is hidden from this courier,
    so none of them can be told apart by probing."""
    return NotFound(f"delivery {delivery_id!r} is not registered")

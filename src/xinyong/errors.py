"""The one error root of the platform.

Every domain error subclasses :class:`XinyongError`. Each carries an HTTP status and a
stable, machine-readable code; the API turns them into RFC 9457 problem details and the CLI
into a one-line message with a non-zero exit.
"""

from __future__ import annotations

from typing import Any, ClassVar

PROBLEM_TYPE_PREFIX = "urn:xinyong:problem:"


class XinyongError(Exception):
    """Base class of all errors the platform reports to its users."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        """Return the error as an RFC 9457 problem details object."""
        problem: dict[str, Any] = {
            "type": PROBLEM_TYPE_PREFIX + self.code,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if instance is not None:
            problem["instance"] = instance
        problem.update(self.extensions)
        return problem


class NotFoundError(XinyongError):
    status = 404
    code = "not_found"
    title = "Not found"


class ConflictError(XinyongError):
    status = 409
    code = "conflict"
    title = "Conflict"


class AuthenticationError(XinyongError):
    status = 401
    code = "unauthenticated"
    title = "Authentication required"


class PermissionDeniedError(XinyongError):
    status = 403
    code = "forbidden"
    title = "Forbidden"


class ConfigurationError(XinyongError):
    status = 500
    code = "configuration_error"
    title = "Configuration error"

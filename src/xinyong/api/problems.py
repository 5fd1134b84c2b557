"""Errors as RFC 9457 problem details (``application/problem+json``)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from xinyong.errors import PROBLEM_TYPE_PREFIX, XinyongError

PROBLEM_JSON = "application/problem+json"

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def problem_response(
    problem: dict[str, Any], headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        problem, status_code=int(problem["status"]), media_type=PROBLEM_JSON, headers=headers
    )


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(XinyongError)
    async def _domain_error(request: Request, exc: XinyongError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return problem_response(exc.to_problem(instance=request.url.path), headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "location": [str(part) for part in error.get("loc", ())],
                "code": str(error.get("type", "invalid")),
                "message": str(error.get("msg", "")),
            }
            for error in exc.errors()
        ]
        return problem_response(
            {
                "type": PROBLEM_TYPE_PREFIX + "validation_error",
                "title": "The request is not valid",
                "status": 422,
                "detail": f"{len(errors)} problem(s) in the request",
                "code": "validation_error",
                "instance": request.url.path,
                "errors": errors,
            }
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return problem_response(
            {
                "type": PROBLEM_TYPE_PREFIX + code,
                "title": str(exc.detail),
                "status": exc.status_code,
                "detail": str(exc.detail),
                "code": code,
                "instance": request.url.path,
            },
            dict(exc.headers) if exc.headers else None,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Details stay in the server log; the client gets a stable code and nothing else.
        return problem_response(
            {
                "type": PROBLEM_TYPE_PREFIX + "internal_error",
                "title": "Internal server error",
                "status": 500,
                "detail": "the request failed unexpectedly; a submission retried with the "
                "same Idempotency-Key resumes where it stopped",
                "code": "internal_error",
                "instance": request.url.path,
            }
        )

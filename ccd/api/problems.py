"""RFC 9457 problem details: the one error shape every API response uses.

Pure (no aiohttp): handlers and policy helpers raise ``ApiProblem``; the problem
middleware turns it into an ``application/problem+json`` response.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus

PROBLEM_CONTENT_TYPE = "application/problem+json"

# Plain HTTP-status problems use "about:blank" (RFC 9457 §4.2.1); ccd-specific ones get
# a stable URN so clients can branch on ``type`` without parsing ``detail``.
ABOUT_BLANK = "about:blank"
VALIDATION_ERROR = "urn:ccd:problem:validation-error"
NOT_READY = "urn:ccd:problem:not-ready"
ORIGINATE_REJECTED = "urn:ccd:problem:originate-rejected"
UPSTREAM_UNAVAILABLE = "urn:ccd:problem:upstream-unavailable"


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str  # dotted path into the request body, or the path parameter's name
    message: str


class ApiProblem(Exception):
    """An error the client should see, with a status and a human-readable detail."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        type_: str = ABOUT_BLANK,
        title: str | None = None,
        errors: Sequence[FieldError] = (),
        headers: Mapping[str, str] | None = None,
        extensions: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail
        self.type_ = type_
        self.title = title if title is not None else HTTPStatus(status).phrase
        self.errors = tuple(errors)
        self.headers = dict(headers or {})
        self.extensions = dict(extensions or {})

    def body(self, *, instance: str, request_id: str | None) -> dict[str, object]:
        body: dict[str, object] = {
            "type": self.type_,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "instance": instance,
        }
        if self.errors:
            body["errors"] = [{"field": e.field, "message": e.message} for e in self.errors]
        if request_id is not None:
            body["request_id"] = request_id
        body.update(self.extensions)
        return body


def validation_problem(errors: Sequence[FieldError]) -> ApiProblem:
    fields = ", ".join(dict.fromkeys(e.field for e in errors))
    return ApiProblem(
        422,
        f"the request is invalid: {fields}",
        type_=VALIDATION_ERROR,
        title="Validation failed",
        errors=errors,
    )


def unauthorized(detail: str, *, token_given: bool) -> ApiProblem:
    # RFC 6750 §3: say which scheme to use; error="invalid_token" only when one was sent.
    challenge = 'Bearer realm="ccd"'
    if token_given:
        challenge += ', error="invalid_token"'
    return ApiProblem(401, detail, headers={"WWW-Authenticate": challenge})


def forbidden(detail: str) -> ApiProblem:
    return ApiProblem(403, detail)


def not_found(detail: str) -> ApiProblem:
    return ApiProblem(404, detail)

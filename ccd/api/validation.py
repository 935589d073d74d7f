"""Turning untrusted request bytes into validated models, or into a clear 4xx problem.

Pure (no aiohttp). Order of checks: content type (415), JSON syntax (400), JSON object
(422), CR/LF/NUL anywhere in the body — keys and values, at any depth — (422 naming each
field), then the pydantic model (422 naming each field).
"""

from __future__ import annotations

import json
from typing import TypeVar

from multidict import MultiMapping
from pydantic import BaseModel, ValidationError

from ccd.api.problems import ApiProblem, FieldError, not_found, validation_problem
from ccd.domain.safety import is_ami_safe

ModelT = TypeVar("ModelT", bound=BaseModel)

UNSAFE_MESSAGE = "must not contain CR, LF or NUL characters"
UNSAFE_KEY_MESSAGE = "contains a key with CR, LF, NUL or invalid Unicode"
NOT_UNICODE_MESSAGE = "must be valid Unicode text (a lone surrogate escape was sent)"
BODY_FIELD = "body"


def is_json_media_type(content_type: str) -> bool:
    return content_type == "application/json" or (
        content_type.startswith("application/") and content_type.endswith("+json")
    )


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def parse_json_object(raw: bytes, content_type: str) -> dict[str, object]:
    if not is_json_media_type(content_type):
        raise ApiProblem(415, "the request body must be JSON (Content-Type: application/json)")
    if not raw.strip():
        raise ApiProblem(400, "the request body is empty; a JSON object is required")
    try:
        # NaN/Infinity are Python extensions, not JSON; deep nesting raises RecursionError.
        data = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise ApiProblem(400, f"the request body is not valid JSON: {_json_error(exc)}") from None
    if not isinstance(data, dict):
        raise validation_problem([FieldError(BODY_FIELD, "must be a JSON object")])
    return data


def _json_error(exc: BaseException) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8"
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc)


def _is_encodable(text: str) -> bool:
    # JSON allows "\ud800"; such a string cannot be encoded for Asterisk or the database.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _text_problem(text: str) -> str | None:
    if not is_ami_safe(text):
        return UNSAFE_MESSAGE
    if not _is_encodable(text):
        return NOT_UNICODE_MESSAGE
    return None


def unsafe_fields(data: object) -> list[FieldError]:
    """Every string in ``data`` (keys included) containing CR, LF or NUL, or that is not
    encodable Unicode, by path.

    Iterative: a body nested a thousand levels deep must not hit the recursion limit.
    """
    errors: list[FieldError] = []
    stack: list[tuple[str, object]] = [("", data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            problem = _text_problem(value)
            if problem is not None:
                errors.append(FieldError(path or BODY_FIELD, problem))
        elif isinstance(value, dict):
            for key, item in value.items():
                key_text = str(key)
                if _text_problem(key_text) is not None:
                    errors.append(FieldError(path or BODY_FIELD, UNSAFE_KEY_MESSAGE))
                    continue
                stack.append((f"{path}.{key_text}" if path else key_text, item))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                stack.append((f"{path}.{index}" if path else str(index), item))
    errors.sort(key=lambda e: e.field)
    return errors


def _covered(field: str, flagged: set[str]) -> bool:
    if _text_problem(field) is not None:  # an unsafe key, already reported under its parent
        return True
    return any(
        field == f or field.startswith(f + ".") or f.startswith(field + ".") for f in flagged
    )


def validate_body(model: type[ModelT], data: dict[str, object]) -> ModelT:
    unsafe = unsafe_fields(data)
    try:
        parsed = model.model_validate(data)
    except ValidationError as exc:
        flagged = {e.field for e in unsafe}
        errors = list(unsafe)
        for err in exc.errors(include_url=False, include_input=False, include_context=False):
            field = ".".join(str(part) for part in err["loc"]) or BODY_FIELD
            if not _covered(field, flagged):
                errors.append(FieldError(field, err["msg"]))
        raise validation_problem(errors) from None
    if unsafe:
        raise validation_problem(unsafe)
    return parsed


def query_model(model: type[ModelT], query: MultiMapping[str]) -> ModelT:
    """``model`` from a query string: unknown (``extra="forbid"``) or repeated names,
    CR/LF/NUL and bad values are a 422 naming the parameter."""
    errors: list[FieldError] = []
    data: dict[str, object] = {}
    for name in dict.fromkeys(query.keys()):
        values = query.getall(name)
        if len(values) > 1:
            errors.append(FieldError(name, "must be given at most once"))
        else:
            data[name] = values[0]
    if errors:
        raise validation_problem(errors)
    try:
        return validate_body(model, data)
    except ApiProblem as problem:
        # An unsafe parameter *name* comes back as "body"; here it is the query string.
        raise validation_problem(
            [FieldError("query", e.message) if e.field == "body" else e for e in problem.errors]
        ) from None


def check_path_param(name: str, value: str) -> str:
    problem = _text_problem(value)
    if problem is not None:
        raise validation_problem([FieldError(name, problem)])
    return value


def check_id_param(name: str, value: str, *, max_length: int, missing: str) -> str:
    """``check_path_param``, and an id longer than any that is stored is not found (404
    with ``missing``) before any lookup."""
    check_path_param(name, value)
    if len(value) > max_length:
        raise not_found(missing)
    return value

"""Every JSON answer the API tests get is checked against the OpenAPI document.

:func:`check_answers` hooks the app so that each ``/api`` response with a
JSON body is validated (jsonschema-rs, which schemathesis brings) against the
schema its operation declares for that status (the exact code, else ``4XX`` /
``5XX``, else ``default``). Violations are collected, and the ``app`` fixture
fails the test that saw one: a route whose answer drifts from its declared
model fails the fast suite, not only the CI fuzz step.
"""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema_rs
from quart import Response, request
from quart_trio import QuartTrio

from opencrate.api.openapi import openapi_document

__all__ = ["check_answers", "violations"]

_KEY = "tests.contract.violations"
_PATH = re.compile(r"<(?:[^:>]+:)?([^>]+)>")


def violations(app: QuartTrio) -> list[str]:
    found: list[str] = app.extensions.setdefault(_KEY, [])
    return found


def _schema_for(document: dict[str, Any], path: str, method: str, status: int) -> Any:
    operation = document["paths"].get(path, {}).get(method)
    if operation is None:
        return None
    responses = operation["responses"]
    for key in (str(status), f"{str(status)[0]}XX", "default"):
        if key in responses:
            content = responses[key].get("content", {})
            return content.get("application/json", {}).get("schema")
    return None


def check_answers(app: QuartTrio) -> None:
    """Validate every JSON answer of ``app``'s ``/api`` routes against the document."""
    validators: dict[tuple[str, str, int], Any] = {}
    document: dict[str, Any] = {}

    @app.after_request
    async def _check(response: Response) -> Response:
        rule = request.url_rule
        if (
            rule is None
            or not rule.rule.startswith("/api/")
            or response.mimetype != "application/json"
        ):
            return response
        if not document:
            document.update(openapi_document(app))
        path, method = _PATH.sub(r"{\1}", rule.rule), request.method.lower()
        key = (path, method, response.status_code)
        if key not in validators:
            schema = _schema_for(document, path, method, response.status_code)
            validators[key] = (
                None
                if schema is None
                else jsonschema_rs.Draft202012Validator(
                    {**schema, "components": document["components"]}
                )
            )
        validator = validators[key]
        body = await response.get_data(as_text=True)
        if validator is None:
            violations(app).append(f"{method.upper()} {path} {response.status_code}: no schema")
            return response
        errors = [str(e) for e in validator.iter_errors(json.loads(body))]
        if errors:
            violations(app).append(
                f"{method.upper()} {path} {response.status_code}: {errors[0][:300]} in {body[:300]}"
            )
        return response

"""schemathesis checks of our own, loaded by ``.ci/fuzz.py`` (``SCHEMATHESIS_HOOKS``).

``refused_without_credentials``: for the pass that sends no credentials, every
operation that the document marks as protected (any ``security`` but the
empty list of a public route) must answer 401 or 403, whatever was sent,
except where the request did not reach the operation's route at all (an
invalid path parameter matches another route, or none: 404 or 405, which say
nothing about authentication).
"""

from __future__ import annotations

from typing import Any

import schemathesis

#: The answers that mean "the request never reached this operation's route".
_UNROUTED = frozenset({404, 405})


@schemathesis.check
def refused_without_credentials(ctx: Any, response: Any, case: Any) -> bool | None:
    if case.operation.definition.raw.get("security") == []:
        return None  # public: health, login
    if response.status_code in (401, 403):
        return True
    # The guard answers a bad Host, an oversized or mistyped body before asking
    # who is calling: the request was refused, just not for its credentials.
    if response.status_code in (400, 413, 415) and _refused_before_auth(response):
        return True
    if response.status_code in _UNROUTED:
        return None
    raise AssertionError(
        f"{case.operation.label} answered {response.status_code} without credentials; "
        "a protected operation must answer 401 or 403"
    )


def _refused_before_auth(response: Any) -> bool:
    try:
        code = response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return False
    return code in {"invalid_host", "content_too_large", "unsupported_media_type"}

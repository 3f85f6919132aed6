from __future__ import annotations

from typing import Any

from quart import Blueprint

from opencrate.api.access import Role, requires
from opencrate.api.context import services
from tests.runtime.notes.component import NoteStore

blueprint = Blueprint("notes", __name__)


@blueprint.get("/notes")
@requires(Role.VIEWER)
async def list_notes() -> dict[str, Any]:
    return {"notes": await services().get(NoteStore).texts()}

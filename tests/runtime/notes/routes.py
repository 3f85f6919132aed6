from __future__ import annotations

from typing import Any

from quart import Blueprint

from opencrate.api.context import services
from tests.runtime.notes.component import NoteStore

blueprint = Blueprint("notes", __name__)


@blueprint.get("/notes")
async def list_notes() -> dict[str, Any]:
    return {"notes": await services().get(NoteStore).texts()}

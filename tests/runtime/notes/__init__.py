"""A component written the way docs/how-to/add-a-component.md says: one package, one line."""

from opencrate.runtime.component import ComponentSpec

COMPONENT = ComponentSpec(
    name="notes",
    component="tests.runtime.notes.component:NotesComponent",
    routes=("tests.runtime.notes.routes:blueprint",),
    commands=("tests.runtime.notes.cli:notes",),
    sections=("notes",),
)

"""A component written the way docs/how-to/add-a-component.md says: one package, one line."""

from opencrate.runtime.component import ComponentSpec

COMPONENT = ComponentSpec.in_package(
    __name__,
    "component:NotesComponent.build",
    routes=("routes:blueprint",),
    commands=("cli:notes",),
    sections=("notes",),
)

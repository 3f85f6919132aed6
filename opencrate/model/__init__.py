"""The building model: nodes, values, protocol bindings and tags."""

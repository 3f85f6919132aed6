"""Route groups: one module, one ``blueprint``, per area of the API."""

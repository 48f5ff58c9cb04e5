"""HTTP routes, one module per resource; each is glue around a use case."""

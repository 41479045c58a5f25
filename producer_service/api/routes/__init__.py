"""The routes, a module per resource: each reads the request, calls a use case, shapes
the answer."""

"""The HTTP edge: routes, their dependencies, problem answers, CORS and the server."""

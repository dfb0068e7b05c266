"""The HTTP layer: FastAPI app, request parsing and the single place errors become responses."""

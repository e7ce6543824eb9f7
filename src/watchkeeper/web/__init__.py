"""The HTTP face: the FastAPI app and its cross-cutting endpoints."""

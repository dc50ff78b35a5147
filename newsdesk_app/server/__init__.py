"""The HTTP side: one FastAPI application with the REST API, the OpenAI-compatible API and the web UI."""

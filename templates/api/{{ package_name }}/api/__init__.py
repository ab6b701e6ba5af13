"""The HTTP API: routers, one module per resource, and their dependencies."""

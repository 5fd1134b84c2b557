"""The HTTP API: composes the domain routers."""

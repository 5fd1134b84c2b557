"""Running the API server from the CLI."""

from __future__ import annotations

import uvicorn

from xinyong.api.app import create_app
from xinyong.cli.context import Platform


def run_server(platform: Platform, host: str, port: int) -> None:
    app = create_app(platform.settings, engine=platform.engine, keys=platform.keys)
    uvicorn.run(app, host=host, port=port, log_level=platform.settings.log_level.lower())

"""The CJK font that setup installs, for PDF reports and Chinese plot labels."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

# Noto Sans CJK SC (SIL Open Font Licence), shipped in the ``mplfonts`` wheel of the lock file.
DEFAULT_FONT_FILE_NAME = "NotoSansCJKsc-Regular.otf"


@functools.cache
def default_cjk_font() -> Path | None:
    """Noto Sans CJK SC from the installed ``mplfonts`` package, or ``None``.

    The package is found, not imported: importing it imports matplotlib.
    """
    spec = importlib.util.find_spec("mplfonts")
    if spec is None or spec.submodule_search_locations is None:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "fonts" / DEFAULT_FONT_FILE_NAME
        if candidate.is_file():
            return candidate
    return None

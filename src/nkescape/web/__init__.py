"""The dashboard of ``nkescape serve``: an HTTP API over the library and the page that uses it.

``create_app()`` builds the FastAPI app (``nkescape.web.app``); ``nkescape serve`` runs it under
uvicorn. The name is imported on first use (PEP 562), so that importing the package loads
neither FastAPI nor the atlas.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nkescape.web.app import create_app

__all__ = ["create_app"]

_LAZY = {"create_app": "nkescape.web.app"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'nkescape.web' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next access is a plain lookup
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

"""The coordination board on the web: its API under ``/board/api`` and its pages under ``/board``.

``board_router(board)`` is the router the dashboard's app includes (``nkescape serve --board``);
``board_app(board)`` is a FastAPI app with the router alone and the dashboard's security headers
and error style, for tests and benchmarks. Both are imported on first use (PEP 562), so that
importing the package loads neither FastAPI nor the board.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nkescape.web.board.app import board_app
    from nkescape.web.board.routes import board_router

__all__ = ["board_app", "board_router"]

_LAZY = {"board_app": "nkescape.web.board.app", "board_router": "nkescape.web.board.routes"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'nkescape.web.board' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next access is a plain lookup
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

"""Where rave-gui's bundled files are (icons, the desktop entry): the package's ``resources``
folder in an installed copy, the checkout's top-level ``resources/`` folder when run from source
(or installed with ``pip install -e``). No Qt.

pyproject.toml maps the top-level folder into the wheel as ``rave_gui/resources``, so the two
places hold the same files and there is only one copy in the repository.
"""

from __future__ import annotations

import functools
from pathlib import Path

from ..errors import NotFoundError

APP_ID = "rave-gui"  # the desktop entry's and the icon's name
APP_ICON_SIZES = (16, 32, 48, 64, 128, 256)  # the PNG sizes rendered from the SVG
PAGE_ICONS = ("projects", "datasets", "training", "compare", "export", "settings", "targets")

_PACKAGE_DIR = Path(__file__).resolve().parents[2]  # .../rave_gui
_MARKER = Path("icons") / f"{APP_ID}.svg"


@functools.cache
def resources_dir() -> Path:
    """The folder holding the resources (the installed one first, then the checkout's)."""
    candidates = (_PACKAGE_DIR / "resources", _PACKAGE_DIR.parent / "resources")
    for folder in candidates:
        if (folder / _MARKER).is_file():
            return folder
    raise NotFoundError(
        "rave-gui's resources (icons, desktop entry) are missing: looked in "
        f"{candidates[0]} and {candidates[1]}. Reinstall rave-gui."
    )


def checkout_root() -> Path | None:
    """The source checkout rave-gui runs from (the folder with main.py and pyproject.toml), or
    None for an installed copy."""
    root = _PACKAGE_DIR.parent
    if (root / "main.py").is_file() and (root / "pyproject.toml").is_file():
        return root
    return None


def resource_path(relative: str) -> Path:
    """A bundled file, e.g. ``resource_path("icons/training.svg")``; NotFoundError if absent."""
    path = resources_dir() / relative
    if not path.is_file():
        raise NotFoundError(f"rave-gui's resource {relative} is missing from {resources_dir()}.")
    return path


def app_icon_svg() -> Path:
    return resource_path(f"icons/{APP_ID}.svg")


def app_icon_png(size: int) -> Path:
    """The application icon rendered at ``size`` pixels (one of APP_ICON_SIZES)."""
    return resource_path(f"icons/{APP_ID}-{size}.png")


def page_icon_svg(name: str) -> Path:
    """The sidebar icon of a page (one of PAGE_ICONS), drawn in black to be tinted."""
    return resource_path(f"icons/{name}.svg")


def desktop_entry_template() -> Path:
    return resource_path(f"{APP_ID}.desktop")


def user_guide() -> Path:
    """The user guide (Markdown), shown by Help → User guide."""
    return resource_path("guide.md")


__all__ = [
    "APP_ICON_SIZES",
    "APP_ID",
    "PAGE_ICONS",
    "app_icon_png",
    "app_icon_svg",
    "checkout_root",
    "desktop_entry_template",
    "page_icon_svg",
    "resource_path",
    "resources_dir",
    "user_guide",
]

"""The item data roles every table model of rave-gui answers besides Qt's own (one numbering)."""

from __future__ import annotations

from enum import IntEnum

from PyQt6.QtCore import Qt

_USER = int(Qt.ItemDataRole.UserRole)


class Role(IntEnum):
    """Custom roles, asked with ``index.data(Role.SORT)``."""

    KEY = _USER + 1  # the row's record key (an experiment's or a project's id), any column
    SORT = _USER + 2  # a value that sorts right (numbers as numbers, text folded)
    STATUS = _USER + 3  # a run's raw status, in its status column (for the badge delegate)


__all__ = ["Role"]

"""The rule for names of projects, datasets and experiments (they become folder names)."""

from __future__ import annotations

import re

from ..errors import ValidationError

NAME_MAX = 120
_BAD_NAME = re.compile(r"[/\\\x00-\x1f\x7f:*?\"<>|]")


def check_name(name: object, what: str) -> str:
    """A trimmed, valid name, or ValidationError saying what is wrong with it."""
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(f"The {what} name is empty: give it a name.")
    name = name.strip()
    if len(name) > NAME_MAX:
        raise ValidationError(f"The {what} name is longer than {NAME_MAX} characters.")
    bad = _BAD_NAME.search(name)
    if bad:
        raise ValidationError(
            f"The {what} name {name!r} contains {bad.group()!r}; use letters, digits, spaces, "
            "dots, dashes and underscores."
        )
    if name.startswith((".", "-")):
        raise ValidationError(f"The {what} name {name!r} cannot start with '.' or '-'.")
    return name

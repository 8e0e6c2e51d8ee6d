"""The rule for names of projects, datasets and experiments (they become folder names)."""

from __future__ import annotations

import unicodedata

from ..errors import ValidationError

NAME_MAX = 120
# A name holds letters (any script, with their accents), digits, spaces and these signs; the
# rest (/ \ : * ? " < > | and control characters) cannot be in a file name on every system.
NAME_PUNCTUATION = "!#$%&'()+,-.;=@[]^_`{}~"
_NAME_SIGNS = " " + NAME_PUNCTUATION


def _name_char_ok(ch: str) -> bool:
    if ch in _NAME_SIGNS:
        return True
    category = unicodedata.category(ch)
    return category[0] in "LM" or category == "Nd"  # letters, their marks, digits


def check_name(name: object, what: str) -> str:
    """A trimmed, valid name, or ValidationError saying what is wrong with it."""
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(f"The {what} name is empty: give it a name.")
    name = name.strip()
    if len(name) > NAME_MAX:
        raise ValidationError(f"The {what} name is longer than {NAME_MAX} characters.")
    bad = next((ch for ch in name if not _name_char_ok(ch)), None)
    if bad is not None:
        raise ValidationError(
            f"The {what} name {name!r} contains {bad!r}; use letters, digits, spaces and "
            f"these signs: {' '.join(NAME_PUNCTUATION)}"
        )
    if name.startswith((".", "-")):
        raise ValidationError(f"The {what} name {name!r} cannot start with '.' or '-'.")
    return name

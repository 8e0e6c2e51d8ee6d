"""Exceptions the backend raises, each with a message a person can act on."""

from __future__ import annotations


class RaveGuiError(Exception):
    """Base of every error rave-gui reports to a user (the UI and CLI show ``str(err)``)."""


class ValidationError(RaveGuiError):
    """A value given by the user is not acceptable (empty name, bad number, bad option)."""


class DuplicateNameError(ValidationError):
    """A name is already used where it must be unique."""


class NotFoundError(RaveGuiError):
    """A project, dataset, experiment or file that was asked for does not exist."""


class InvalidTransitionError(RaveGuiError):
    """An experiment cannot move from its current status to the one asked for."""


class InUseError(RaveGuiError):
    """Something cannot be deleted or changed because other things depend on it."""


class DatasetError(RaveGuiError):
    """A folder is not a usable preprocessed RAVE dataset."""


class DatabaseError(RaveGuiError):
    """The experiment database cannot be opened or written."""


class DiskFullError(DatabaseError):
    """The disk holding the database is full: the write was rolled back, nothing was stored."""


class PreflightError(RaveGuiError):
    """A training or export cannot start; the message says what to fix."""


class ProcessError(RaveGuiError):
    """A child process could not be started, signalled or followed."""


class DesktopEntryError(RaveGuiError):
    """The desktop entry or its icons cannot be installed or removed."""


class CancelledError(RaveGuiError):
    """The user cancelled a job (an export, a preprocess) before it ended."""

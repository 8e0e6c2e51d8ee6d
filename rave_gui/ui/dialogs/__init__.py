"""Dialogs of the rave-gui window."""

"""Reusable widgets of the rave-gui window."""

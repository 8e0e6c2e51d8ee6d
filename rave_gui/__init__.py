"""rave-gui: a desktop app for training RAVE models."""

__version__ = "0.1.0"

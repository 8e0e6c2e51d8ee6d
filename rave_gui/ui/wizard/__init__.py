"""The new-training wizard."""

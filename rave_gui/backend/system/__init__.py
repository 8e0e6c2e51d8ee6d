"""The machine and the user: paths, settings, GPU/CPU monitor, units, desktop integration."""

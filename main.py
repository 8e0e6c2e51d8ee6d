"""Starts rave-gui (the same as ``python -m rave_gui`` and the ``rave-gui`` command)."""

from rave_gui.app import main

if __name__ == "__main__":
    raise SystemExit(main())

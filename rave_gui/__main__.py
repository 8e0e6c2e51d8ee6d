"""``python -m rave_gui``: the app, or a command-line action when one is given."""

from .app import main

raise SystemExit(main())

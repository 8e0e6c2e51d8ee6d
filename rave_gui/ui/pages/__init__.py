"""Pages of the rave-gui window."""

"""Training runs: the engine (queue, start, stop, pause, resume, import) and the follower."""

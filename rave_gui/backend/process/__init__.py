"""Detached processes: start under a supervisor, follow their log, signal their group.

The only room that knows process groups, /proc and POSIX signals (Linux; psutil where it covers
other systems): a port to another platform touches ``procinfo``, ``runner`` and ``locks``.
"""

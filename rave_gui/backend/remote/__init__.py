"""Runs on other machines: SSH hosts and SLURM clusters (targets)."""

"""The experiment store: one SQLite file, one class per group of tables (see TrainingManager)."""

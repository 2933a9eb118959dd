"""Channels translate between a platform and the engine; they never touch the database."""

"""Backoff strategies for `@app.task(backoff=…)`: see `rtask._backoff`."""

from ._backoff import DEFAULT, Backoff, constant, exponential, linear, polynomial

__all__ = ["DEFAULT", "Backoff", "constant", "exponential", "linear", "polynomial"]

"""The version of curvsym (one place: setup.cfg reads it from here)."""

__version__ = "0.3.0"

"""The ``lite-tracker`` command line: thin shells over the client."""

from .main import main

__all__ = ["main"]

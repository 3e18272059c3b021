"""The model registry: registered models, versions, stages, aliases and model URIs, kept in the
tracking store as event tables (see :mod:`lite_tracker.registry.store`)."""

from .client import RegistryClient

__all__ = ["RegistryClient"]

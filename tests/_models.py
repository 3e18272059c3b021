"""Importable custom models for the pyfunc tests (pickled by reference, loaded in other processes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lite_tracker.pyfunc import PythonModel, PythonModelContext


class AddOffset(PythonModel):
    """Adds the number stored in the ``offset`` artifact file to every input value."""

    def load_context(self, context: PythonModelContext) -> None:
        self.offset = float(Path(context.artifacts["offset"]).read_text())

    def predict(self, context: PythonModelContext, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        return model_input + self.offset


class Doubler:
    """Not a PythonModel: any object with predict() can be logged."""

    def predict(self, data: Any) -> Any:
        return data * 2


class Scale:
    """Any object with predict(): multiplies its input by ``factor``."""

    def __init__(self, factor: float) -> None:
        self.factor = factor

    def predict(self, data: Any) -> Any:
        return data * self.factor


def negate(data: Any) -> Any:
    """A plain function logged as a model."""
    return -data


def square(data: Any) -> Any:
    """Another plain function logged as a model."""
    return data * data

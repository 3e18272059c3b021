"""Model registry entities shaped like MLflow's (``mlflow.entities.model_registry``).

All are frozen dataclasses. ``ModelVersion.version`` is an ``int`` (as MLflow's local stores return
it); every method that takes a version also accepts its string form.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidParameterValue
from . import MlflowRepr, _html, as_key_value_dict


class ModelVersionStages:
    """The stages a model version can be in, with MLflow's canonical spelling.

    Stages are matched case-insensitively on input and returned canonical. ``Development`` is a
    lite_tracker addition to MLflow's ``None, Staging, Production, Archived``.

    Example:
        >>> ModelVersionStages.get_canonical_stage("production")
        'Production'
    """

    NONE = "None"
    DEVELOPMENT = "Development"
    STAGING = "Staging"
    PRODUCTION = "Production"
    ARCHIVED = "Archived"
    ALL_STAGES = (NONE, DEVELOPMENT, STAGING, PRODUCTION, ARCHIVED)
    # Stages whose current holders archive_existing_versions may move to Archived (as in MLflow).
    ACTIVE_STAGES = (STAGING, PRODUCTION)

    @staticmethod
    def get_canonical_stage(stage: Any) -> str:
        """The canonical spelling of ``stage``.

        Args:
            stage: A stage name in any case (``None`` means the stage ``"None"``).

        Returns:
            One of :attr:`ALL_STAGES`.

        Raises:
            InvalidParameterValue: ``stage`` is not a known stage.
        """
        if stage is None:
            return ModelVersionStages.NONE
        if isinstance(stage, str):
            for name in ModelVersionStages.ALL_STAGES:
                if name.lower() == stage.strip().lower():
                    return name
        raise InvalidParameterValue(
            f"Invalid Model Version stage: {stage!r}. Value must be one of "
            f"{', '.join(ModelVersionStages.ALL_STAGES)} (case-insensitive)."
        )


def get_canonical_stage(stage: Any) -> str:
    """Module-level alias of :meth:`ModelVersionStages.get_canonical_stage`, as MLflow has it.

    Example:
        >>> get_canonical_stage("STAGING")
        'Staging'
    """
    return ModelVersionStages.get_canonical_stage(stage)


class ModelVersionStatus:
    """Registration status of a model version (registration is synchronous here: always READY)."""

    PENDING_REGISTRATION = "PENDING_REGISTRATION"
    FAILED_REGISTRATION = "FAILED_REGISTRATION"
    READY = "READY"


@dataclass(frozen=True, repr=False)
class RegisteredModelTag(MlflowRepr):
    """A tag of a registered model."""

    key: str
    value: str


@dataclass(frozen=True, repr=False)
class ModelVersionTag(MlflowRepr):
    """A tag of a model version."""

    key: str
    value: str


@dataclass(frozen=True, repr=False)
class RegisteredModelAlias(MlflowRepr):
    """A named pointer (such as ``champion``) from a registered model to one of its versions.

    Example:
        >>> RegisteredModelAlias("champion", 3).version
        3
    """

    alias: str
    version: int


@dataclass(frozen=True, repr=False)
class ModelVersion(MlflowRepr):
    """One version of a registered model, as MLflow's ``ModelVersion``.

    Example:
        >>> mv = ModelVersion("iris", 2, 1700000000000, 1700000000000)
        >>> (mv.name, mv.version, mv.current_stage)
        ('iris', 2, 'None')
    """

    name: str
    version: int
    creation_timestamp: int
    last_updated_timestamp: int | None = None
    description: str | None = None
    user_id: str | None = None
    current_stage: str = ModelVersionStages.NONE
    source: str | None = None
    run_id: str | None = None
    status: str = ModelVersionStatus.READY
    status_message: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    run_link: str | None = None
    aliases: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tags", as_key_value_dict(self.tags))  # MLflow takes ModelVersionTags too

    def _repr_html_(self) -> str:
        """A compact table for notebooks."""
        return _html.version(self)


@dataclass(frozen=True, repr=False)
class RegisteredModel(MlflowRepr):
    """A registered model, as MLflow's ``RegisteredModel``.

    ``latest_versions`` holds the newest version in each stage; ``aliases`` maps alias to version.

    Example:
        >>> RegisteredModel("iris", 1700000000000).latest_versions
        []
    """

    name: str
    creation_timestamp: int
    last_updated_timestamp: int | None = None
    description: str | None = ""
    latest_versions: list[ModelVersion] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.description is None:  # MLflow returns "" for a model without a description
            object.__setattr__(self, "description", "")
        object.__setattr__(self, "tags", as_key_value_dict(self.tags))  # MLflow takes tag and alias lists too
        object.__setattr__(self, "aliases", as_key_value_dict(self.aliases))

    def _repr_html_(self) -> str:
        """A compact table for notebooks, with the latest version per stage."""
        return _html.model(self)



@dataclass(frozen=True, repr=False)
class StageTransition(MlflowRepr):
    """One recorded stage change of a model version: who moved it, when, from which stage to which.

    Example:
        >>> StageTransition("iris", 1, "None", "Staging", "alice", 1700000000000).to_stage
        'Staging'
    """

    name: str
    version: int
    from_stage: str
    to_stage: str
    user_id: str
    timestamp: int


__all__ = [
    "ModelVersion",
    "ModelVersionStages",
    "ModelVersionStatus",
    "ModelVersionTag",
    "RegisteredModel",
    "RegisteredModelAlias",
    "RegisteredModelTag",
    "StageTransition",
    "get_canonical_stage",
]

"""The model registry half of ``MlflowClient`` (MLflow's ``MlflowClient`` registry methods).

:class:`RegistryClient` is a mixin: ``MlflowClient`` inherits it and provides the store. Registry data
lives in the same store as runs, written as event segments (see :mod:`lite_tracker.registry.store`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .. import _validation as v
from ..entities import PagedList
from ..entities.model_registry import (
    ModelVersion,
    ModelVersionStages,
    RegisteredModel,
    StageTransition,
)
from ..errors import RESOURCE_ALREADY_EXISTS, InvalidParameterValue, LiteTrackerException, ResourceNotFound
from ..settings import current_user
from .store import RegistryStore

if TYPE_CHECKING:
    from ..store.duckdb_store import DuckDBStore

MAX_MODEL_NAME_LENGTH = 256
MAX_REGISTRY_TAG_VALUE_LENGTH = 5000
MAX_ALIAS_LENGTH = 255
MAX_DESCRIPTION_LENGTH = 65535
_ALIAS_RE = re.compile(r"^[\w\-]*$")
_VERSION_ALIAS_RE = re.compile(r"^[vV]\d+$")


def validate_model_name(name: Any) -> str:
    """A registered model name: a non-empty string of at most 256 characters without ``/``."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameterValue(f"Registered model name must be a non-empty string, got {name!r}.")
    if len(name) > MAX_MODEL_NAME_LENGTH:
        raise InvalidParameterValue(
            f"Registered model name is {len(name)} characters long; the limit is {MAX_MODEL_NAME_LENGTH}."
        )
    if "/" in name:
        raise InvalidParameterValue(
            f"Invalid registered model name {name!r}: it may not contain '/' (models:/<name>/<version> URIs "
            "could not name it)."
        )
    return name


def validate_version(version: Any) -> int:
    """A model version number: a positive int or its decimal string (MLflow's message otherwise)."""
    if isinstance(version, str) and version.strip().lstrip("-").isdigit():
        version = int(version)
    if isinstance(version, bool) or not isinstance(version, int):
        raise InvalidParameterValue(f"Parameter 'version' must be an integer, got {version!r}.")
    if version < 1:
        raise InvalidParameterValue(f"Model version must be an integer >= 1, got {version!r}.")
    return version


def validate_alias(alias: Any) -> str:
    """An alias: 1-255 of letters, digits, ``_`` and ``-``; ``latest`` (any case) and ``v<digits>``
    are reserved."""
    if not isinstance(alias, str) or not alias:
        raise InvalidParameterValue(f"Registered model alias must be a non-empty string, got {alias!r}.")
    if len(alias) > MAX_ALIAS_LENGTH:
        raise InvalidParameterValue(f"Alias is {len(alias)} characters long; the limit is {MAX_ALIAS_LENGTH}.")
    if not _ALIAS_RE.match(alias):
        raise InvalidParameterValue(
            f"Invalid alias name: {alias!r}. Names may only contain alphanumerics, underscores (_), and dashes (-)."
        )
    if alias.lower() == "latest":
        raise InvalidParameterValue(f"{alias!r} alias name (case insensitive) is reserved.")
    if _VERSION_ALIAS_RE.match(alias):
        raise InvalidParameterValue(f"Version alias name {alias!r} is reserved.")
    return alias


def _description(description: Any) -> str | None:
    if description is None:
        return None
    if not isinstance(description, str):
        raise InvalidParameterValue(f"description must be a string, got {type(description).__name__}.")
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise InvalidParameterValue(f"description is {len(description)} characters long; the limit is "
                                    f"{MAX_DESCRIPTION_LENGTH}.")
    return description


def _tags(tags: Any) -> dict[str, str]:
    if tags is None:
        return {}
    if isinstance(tags, dict):
        items = list(tags.items())
    else:  # a list of RegisteredModelTag / ModelVersionTag, as MLflow's stores take
        items = [(getattr(t, "key", None), getattr(t, "value", None)) for t in tags]
    return dict(v.validate_tag(k, val, MAX_REGISTRY_TAG_VALUE_LENGTH) for k, val in items)


class RegistryClient:
    """Model registry methods of :class:`~lite_tracker.MlflowClient`, with MLflow's names and shapes.

    Versions are numbered 1, 2, 3, ... per model and never reused. Stages are ``None``,
    ``Development``, ``Staging``, ``Production`` and ``Archived`` (any case on input). Every stage
    transition is recorded with the OS user and time (:meth:`get_model_version_stage_history`).

    Example:
        >>> client = MlflowClient("t.duckdb")  # doctest: +SKIP
        >>> client.create_registered_model("iris")  # doctest: +SKIP
        >>> mv = client.create_model_version("iris", f"runs:/{run_id}/model", run_id)  # doctest: +SKIP
        >>> client.set_registered_model_alias("iris", "champion", mv.version)  # doctest: +SKIP
    """

    if TYPE_CHECKING:
        _store: DuckDBStore

        def _read(self) -> DuckDBStore: ...

    @property
    def _registry(self) -> RegistryStore:
        return RegistryStore(self._store)

    # ------------------------------------------------------------ registered models

    def create_registered_model(self, name: str, tags: dict[str, Any] | None = None,
                                description: str | None = None,
                                deployment_job_id: str | None = None) -> RegisteredModel:
        """Create a registered model.

        Args:
            name: Unique model name (at most 256 characters, no ``/``).
            tags: Tags to set on it.
            description: Free text.
            deployment_job_id: MLflow 3 keyword (Databricks deployment jobs), accepted and ignored.
                Any other keyword raises ``TypeError``.

        Returns:
            The new :class:`~lite_tracker.entities.model_registry.RegisteredModel`.

        Raises:
            LiteTrackerException: RESOURCE_ALREADY_EXISTS if a model has the name;
                INVALID_PARAMETER_VALUE for a bad name, tag or description.
        """
        name = validate_model_name(name)
        tag_map = _tags(tags)
        self._read()
        self._registry.create_model(name, _description(description), tag_map)
        return self.get_registered_model(name)

    def get_registered_model(self, name: str) -> RegisteredModel:
        """The registered model named ``name`` (RESOURCE_DOES_NOT_EXIST if none)."""
        name = validate_model_name(name)
        with self._read().session() as con:
            return self._registry.models(con, [RegistryStore.model_id(con, name)])[0]

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        """Rename a model; its versions, tags and aliases follow."""
        name, new_name = validate_model_name(name), validate_model_name(new_name)
        self._registry.rename_model(name, new_name)
        return self.get_registered_model(new_name)

    def update_registered_model(self, name: str, description: str | None = None,
                                deployment_job_id: str | None = None) -> RegisteredModel:
        """Set a model's description (``""`` clears it).

        ``deployment_job_id`` (MLflow 3, Databricks deployment jobs) is accepted and ignored; any other
        keyword raises ``TypeError``.
        """
        name = validate_model_name(name)
        text = _description(description)
        if text is None:
            raise InvalidParameterValue("Attempting to update registered model with no new field values.")
        self._registry.update_model(name, text)
        return self.get_registered_model(name)

    def delete_registered_model(self, name: str) -> None:
        """Delete a model with all its versions, tags and aliases; the name can be reused."""
        self._registry.delete_model(validate_model_name(name))

    def search_registered_models(self, filter_string: str | None = None, max_results: int = 100,
                                 order_by: list[str] | None = None,
                                 page_token: str | None = None) -> PagedList[RegisteredModel]:
        """Registered models matching MLflow's registered-model filter grammar, paged like MLflow.

        Args:
            filter_string: e.g. ``"name LIKE 'iris%' AND tags.team = 'ml'"``.
            max_results: Page size, 1 to 1000 (default 100).
            order_by: e.g. ``["last_updated_timestamp DESC"]``; ties break by ``name ASC``.
            page_token: The ``token`` of the previous page.

        Returns:
            A :class:`~lite_tracker.entities.PagedList` of models.
        """
        from ..search.paging import decode_page_token, encode_page_token, validate_max_results
        from ..search.registry import (
            SEARCH_REGISTERED_MODEL_MAX_RESULTS_THRESHOLD,
            compile_search_registered_models,
        )

        limit = validate_max_results(max_results, SEARCH_REGISTERED_MODEL_MAX_RESULTS_THRESHOLD)
        offset = decode_page_token(page_token)
        q = compile_search_registered_models(filter_string, order_by, limit + 1, offset)
        with self._read().session() as con:
            ids = [r[0] for r in con.execute(q.sql, q.params).fetchall()]
            models = self._registry.models(con, ids[:limit])
        return PagedList(models, encode_page_token(offset + limit) if len(ids) > limit else None)

    def set_registered_model_tag(self, name: str, key: str, value: Any) -> None:
        """Set a tag on a model (value up to 5000 characters)."""
        name = validate_model_name(name)
        key, text = v.validate_tag(key, value, MAX_REGISTRY_TAG_VALUE_LENGTH)
        self._read()
        self._registry.set_model_tag(name, key, text)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        """Remove a tag from a model (as in MLflow, a missing tag is not an error)."""
        name, key = validate_model_name(name), v.validate_key(key, "tag")
        self._read()
        self._registry.set_model_tag(name, key, None)

    # ------------------------------------------------------------ model versions

    def create_model_version(self, name: str, source: str, run_id: str | None = None,
                             tags: dict[str, Any] | None = None, run_link: str | None = None,
                             description: str | None = None, await_creation_for: int = 300,
                             model_id: str | None = None) -> ModelVersion:
        """Register ``source`` as the next version of model ``name``.

        Args:
            name: An existing registered model.
            source: Where the model is: an artifact location, or a ``runs:/``/``models:/`` URI, which
                is resolved to the artifact location now (a ``runs:/`` URI of a run this store does
                not know is kept as given, as MLflow keeps it).
            run_id: The run that produced it (taken from a ``runs:/`` source when not given).
            tags: Tags of the version.
            run_link: A link to the run.
            description: Free text.
            await_creation_for: Accepted for MLflow compatibility (registration is synchronous).
            model_id: MLflow 3's logged-model id, accepted and not recorded (lite_tracker has no
                logged-model entity). Any other keyword raises ``TypeError``.

        Returns:
            The new :class:`~lite_tracker.entities.model_registry.ModelVersion` (stage ``None``).

        Raises:
            LiteTrackerException: RESOURCE_DOES_NOT_EXIST for an unknown model or source version.
        """
        from .uri import resolve

        name = validate_model_name(name)
        if not isinstance(source, str) or not source:
            raise InvalidParameterValue(f"Model version source must be a non-empty string, got {source!r}.")
        if run_id is not None:
            run_id = v.validate_run_id(run_id)
        tag_map = _tags(tags)
        self._read()
        RegistryStore(self._store).model_ids(name)  # an unknown model fails before the source is resolved
        location, source_run = resolve(self, source, keep_unknown_runs=True)  # type: ignore[arg-type]
        version = self._registry.create_version(name, location, run_id or source_run, tag_map, run_link,
                                                _description(description), current_user())
        return self.get_model_version(name, version)

    def copy_model_version(self, src_model_uri: str, dst_name: str) -> ModelVersion:
        """Register the version ``src_model_uri`` names as a new version of ``dst_name``, as MLflow does
        (``dst_name`` is created if needed; the copy keeps the source's run, tags and description).

        Args:
            src_model_uri: ``models:/<name>/<version>`` (or a stage, ``latest`` or ``@alias``).
            dst_name: The registered model that receives the copy.

        Returns:
            The new :class:`~lite_tracker.entities.model_registry.ModelVersion`.

        Example:
            >>> client.copy_model_version("models:/staging-iris/3", "prod-iris").version  # doctest: +SKIP
            1
        """
        from .uri import model_version_for, parse_models_uri

        if not isinstance(src_model_uri, str) or not src_model_uri.startswith("models:/"):
            raise InvalidParameterValue(
                f"Unsupported source model URI: '{src_model_uri}'. The `copy_model_version` API only copies "
                "models stored in the 'models:/' scheme.")
        try:
            src = model_version_for(self, parse_models_uri(src_model_uri))  # type: ignore[arg-type]
        except LiteTrackerException as e:
            raise type(e)(f"Failed to fetch model version from source model URI: '{src_model_uri}'. "
                          f"Error: {e.message}", e.error_code) from e
        dst_name = validate_model_name(dst_name)
        try:
            self.create_registered_model(dst_name)
        except LiteTrackerException as e:
            if e.error_code != RESOURCE_ALREADY_EXISTS:
                raise
        return self.create_model_version(dst_name, src_model_uri, run_id=src.run_id, tags=src.tags,
                                         run_link=src.run_link, description=src.description)

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        """One version of a model (RESOURCE_DOES_NOT_EXIST if the model or version does not exist)."""
        name, number = validate_model_name(name), validate_version(version)
        with self._read().session() as con:
            model_id = RegistryStore.model_id(con, name)
            found = self._registry.versions(con, [(model_id, str(number))])
        if not found:
            raise ResourceNotFound(f"Model Version (name={name}, version={number}) not found")
        return found[0]

    def update_model_version(self, name: str, version: int | str, description: str | None = None) -> ModelVersion:
        """Set a version's description (``""`` clears it)."""
        name, number = validate_model_name(name), validate_version(version)
        text = _description(description)
        if text is None:
            raise InvalidParameterValue("Attempting to update model version with no new field values.")
        self._read()
        self._registry.update_version(name, number, text)
        return self.get_model_version(name, number)

    def delete_model_version(self, name: str, version: int | str) -> None:
        """Delete a version; its number is never given out again and its aliases are removed."""
        name, number = validate_model_name(name), validate_version(version)
        self._read()
        self._registry.delete_version(name, number)

    def search_model_versions(self, filter_string: str | None = None, max_results: int = 10_000,
                              order_by: list[str] | None = None,
                              page_token: str | None = None) -> PagedList[ModelVersion]:
        """Model versions matching MLflow's model-version filter grammar, paged like MLflow.

        Args:
            filter_string: e.g. ``"name = 'iris' AND version_number > 2"`` or ``"run_id IN ('a', 'b')"``.
            max_results: Page size, 1 to 200000 (default 10000).
            order_by: e.g. ``["version_number DESC"]``; ties break by ``name ASC, version_number DESC``.
            page_token: The ``token`` of the previous page.

        Returns:
            A :class:`~lite_tracker.entities.PagedList` of versions.
        """
        from ..search.paging import decode_page_token, encode_page_token, validate_max_results
        from ..search.registry import SEARCH_MODEL_VERSION_MAX_RESULTS_THRESHOLD, compile_search_model_versions

        limit = validate_max_results(max_results, SEARCH_MODEL_VERSION_MAX_RESULTS_THRESHOLD)
        offset = decode_page_token(page_token)
        q = compile_search_model_versions(filter_string, order_by, limit + 1, offset)
        with self._read().session() as con:
            keys = [(r[0], r[1]) for r in con.execute(q.sql, q.params).fetchall()]
            versions = self._registry.versions(con, keys[:limit])
        return PagedList(versions, encode_page_token(offset + limit) if len(keys) > limit else None)

    def get_latest_versions(self, name: str, stages: Sequence[str] | None = None) -> list[ModelVersion]:
        """The newest version in each of ``stages`` (every stage when None or empty), by version."""
        name = validate_model_name(name)
        wanted = {ModelVersionStages.get_canonical_stage(s) for s in stages} if stages else None
        latest = self.get_registered_model(name).latest_versions
        return [mv for mv in latest if wanted is None or mv.current_stage in wanted]

    def transition_model_version_stage(self, name: str, version: int | str, stage: str,
                                       archive_existing_versions: bool = False) -> ModelVersion:
        """Move a version to ``stage``; the move is recorded with the OS user and time.

        Args:
            name: The registered model.
            version: The version to move.
            stage: ``None``, ``Development``, ``Staging``, ``Production`` or ``Archived`` (any case).
            archive_existing_versions: Move the other versions now in ``stage`` to ``Archived``
                (only for ``Staging`` and ``Production``, as in MLflow).

        Returns:
            The updated version.

        Raises:
            LiteTrackerException: INVALID_PARAMETER_VALUE for an unknown stage or
                ``archive_existing_versions`` with another stage; RESOURCE_DOES_NOT_EXIST for an
                unknown model or version.
        """
        name, number = validate_model_name(name), validate_version(version)
        canonical = ModelVersionStages.get_canonical_stage(stage)
        if not isinstance(archive_existing_versions, bool):
            raise InvalidParameterValue(
                f"archive_existing_versions must be a bool, got {archive_existing_versions!r}.")
        if archive_existing_versions and canonical not in ModelVersionStages.ACTIVE_STAGES:
            raise InvalidParameterValue(
                f"Model version transition cannot archive existing model versions because {canonical!r} is "
                f"not an Active stage. Valid stages are {', '.join(ModelVersionStages.ACTIVE_STAGES)}."
            )
        self._read()
        self._registry.transition(name, number, canonical, archive_existing_versions, current_user())
        return self.get_model_version(name, number)

    def get_model_version_stage_history(self, name: str, version: int | str) -> list[StageTransition]:
        """Every stage change of a version, oldest first (who, when, from, to).

        Example:
            >>> history = client.get_model_version_stage_history("iris", 1)  # doctest: +SKIP
            >>> [(t.from_stage, t.to_stage) for t in history]  # doctest: +SKIP
            [('None', 'Staging'), ('Staging', 'Production')]
        """
        name, number = validate_model_name(name), validate_version(version)
        with self._read().session() as con:
            model_id = RegistryStore.model_id(con, name)
            RegistryStore._check_version(con, model_id, name, number)
            return self._registry.stage_history(con, model_id, name, number)

    def set_model_version_tag(self, name: str, version: int | str | None = None, key: str | None = None,
                              value: Any = None, stage: str | None = None) -> None:
        """Set a tag on a version (given by number, or as MLflow allows, by ``stage``)."""
        name = validate_model_name(name)
        number = self._version_or_stage(name, version, stage)
        key_, text = v.validate_tag(key, value, MAX_REGISTRY_TAG_VALUE_LENGTH)
        self._registry.set_version_tag(name, number, key_, text)

    def delete_model_version_tag(self, name: str, version: int | str | None = None, key: str | None = None,
                                 stage: str | None = None) -> None:
        """Remove a tag from a version (a missing tag is not an error, as in MLflow)."""
        name = validate_model_name(name)
        number = self._version_or_stage(name, version, stage)
        self._registry.set_version_tag(name, number, v.validate_key(key, "tag"), None)

    def _version_or_stage(self, name: str, version: int | str | None, stage: str | None) -> int:
        self._read()
        if version is not None and stage is not None:
            raise InvalidParameterValue("version and stage cannot be set together")
        if version is None and stage is None:
            raise InvalidParameterValue("version or stage must be set")
        if version is not None:
            return validate_version(version)
        found = self.get_latest_versions(name, [stage])  # type: ignore[list-item]
        if not found:
            raise ResourceNotFound(f"No versions of model with name {name!r} and stage {stage!r} found.")
        return found[0].version

    # ------------------------------------------------------------ aliases

    def set_registered_model_alias(self, name: str, alias: str, version: int | str) -> None:
        """Point ``alias`` (e.g. ``champion``) at a version; an existing alias moves."""
        name, alias, number = validate_model_name(name), validate_alias(alias), validate_version(version)
        self._read()
        self._registry.set_alias(name, alias, number)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        """Remove an alias (a missing alias is not an error, as in MLflow)."""
        name, alias = validate_model_name(name), validate_alias(alias)
        self._read()
        self._registry.set_alias(name, alias, None)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """The version an alias points to (RESOURCE_DOES_NOT_EXIST for an unknown model or alias)."""
        name, alias = validate_model_name(name), validate_alias(alias)
        with self._read().session() as con:
            model_id = RegistryStore.model_id(con, name)
            version = self._registry.alias_version(con, model_id, name, alias)
            found = self._registry.versions(con, [(model_id, version)])
        if not found:
            raise ResourceNotFound(
                f"Registered model alias {alias} of model {name!r} points to a missing version.")
        return found[0]

    def get_model_version_download_uri(self, name: str, version: int | str) -> str:
        """Where a version's model files are (its resolved source)."""
        source = self.get_model_version(name, version).source
        if not source:
            raise ResourceNotFound(f"Model version {name} {version} has no source location.")
        return source

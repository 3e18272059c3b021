"""The model registry's side of the store: reads over the registry views, and writes as event segments.

Every change is one synchronously written events segment (durable on return, visible to every
process at once). Changes whose checks must hold across processes (a model name is unique, version
numbers are consecutive and never reused, archiving the current holders of a stage) run under
``locks/registry.lock``: read the current state through a read session (which includes pending
segments), then write, then release.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .._ids import time_sortable_hex
from ..entities.model_registry import (
    ModelVersion,
    ModelVersionStages,
    ModelVersionStatus,
    RegisteredModel,
    StageTransition,
)
from ..errors import ResourceAlreadyExists, ResourceNotFound
from ..store.locks import exclusive
from ..store.segments import (
    MODEL_ALIASES,
    MODEL_VERSION_TAGS,
    MODEL_VERSIONS,
    REGISTERED_MODEL_TAGS,
    REGISTERED_MODELS,
    STAGE_TRANSITIONS,
    TableSpec,
)

if TYPE_CHECKING:
    import duckdb

    from ..store.duckdb_store import DuckDBStore

Columns = dict[str, list[Any]]

_VERSION_COLUMNS = (
    'v."model_id", v."version", m."name", v."creation_timestamp", v."last_updated_timestamp", '
    'v."description", v."user_id", v."current_stage", v."source", v."run_id", v."status", v."run_link"'
)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _transition_id(seq: int) -> str:
    """Unique and sortable in recording order: the event clock, then random hex."""
    return f"{seq:020d}-{time_sortable_hex()[-12:]}"


def _columns(spec: TableSpec, rows: list[tuple[Any, ...]]) -> Columns:
    return {name: [r[i] for r in rows] for i, name in enumerate(spec.column_names)}


class RegistryStore:
    """Registry reads and writes over one :class:`~lite_tracker.store.duckdb_store.DuckDBStore`.

    Args:
        store: The store of this process for the file (shared with the tracking client).
    """

    def __init__(self, store: DuckDBStore) -> None:
        self.store = store

    # ------------------------------------------------------------ plumbing

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with exclusive(self.store.layout.locks / "registry.lock", self.store.settings.lock_timeout,
                       "model registry lock"):
            yield

    def _write(self, rows: dict[TableSpec, list[tuple[Any, ...]]]) -> None:
        """Write events of several registry tables as one segment (all or nothing)."""
        self.store.write({spec.events: _columns(spec, r) for spec, r in rows.items() if r})

    # ------------------------------------------------------------ lookups

    @staticmethod
    def model_id(con: duckdb.DuckDBPyConnection, name: str) -> str:
        """The id of the live model named ``name`` (RESOURCE_DOES_NOT_EXIST if none)."""
        rows = con.execute(
            'SELECT "model_id" FROM "registered_models" WHERE "name" = ? AND "deleted_timestamp" IS NULL', [name]
        ).fetchall()
        if not rows:
            raise ResourceNotFound(f"Registered Model with name={name} not found")
        return str(rows[0][0])

    @staticmethod
    def _check_version(con: duckdb.DuckDBPyConnection, model_id: str, name: str, version: int) -> None:
        rows = con.execute(
            'SELECT 1 FROM "model_versions" WHERE "model_id" = ? AND "version" = ? AND "deleted_timestamp" IS NULL',
            [model_id, str(version)],
        ).fetchall()
        if not rows:
            raise ResourceNotFound(f"Model Version (name={name}, version={version}) not found")

    def model_ids(self, name: str) -> str:
        """The id of the live model named ``name`` (in its own read session)."""
        with self.store.session() as con:
            return self.model_id(con, name)

    # ------------------------------------------------------------ registered models

    def create_model(self, name: str, description: str | None, tags: dict[str, str]) -> None:
        """Create a model; the name is checked unused under the registry lock."""
        with self._locked():
            with self.store.session() as con:
                taken = con.execute(
                    'SELECT 1 FROM "registered_models" WHERE "name" = ? AND "deleted_timestamp" IS NULL', [name]
                ).fetchall()
            if taken:
                raise ResourceAlreadyExists(f"Registered Model (name={name}) already exists.")
            model_id, now, seq = time_sortable_hex(), _now_ms(), self.store.clock()
            self._write({
                REGISTERED_MODELS: [(model_id, name, description, now, now, None, seq)],
                REGISTERED_MODEL_TAGS: [(model_id, k, v, seq) for k, v in tags.items()],
            })

    def rename_model(self, name: str, new_name: str) -> None:
        """Give a model an unused name (its versions, tags and aliases follow: they key on its id)."""
        with self._locked():
            with self.store.session() as con:
                model_id = self.model_id(con, name)
                taken = con.execute(
                    'SELECT 1 FROM "registered_models" WHERE "name" = ? AND "deleted_timestamp" IS NULL',
                    [new_name],
                ).fetchall()
            if taken and new_name != name:
                raise ResourceAlreadyExists(f"Registered Model (name={new_name}) already exists.")
            self._write({REGISTERED_MODELS: [(model_id, new_name, None, None, _now_ms(), None, self.store.clock())]})

    def update_model(self, name: str, description: str) -> None:
        """Set a model's description."""
        model_id = self.model_ids(name)
        self._write({REGISTERED_MODELS: [(model_id, None, description, None, _now_ms(), None, self.store.clock())]})

    def delete_model(self, name: str) -> None:
        """Delete a model with its versions, tags and aliases; the name becomes free."""
        with self._locked():
            model_id = self.model_ids(name)
            now = _now_ms()
            self._write({REGISTERED_MODELS: [(model_id, None, None, None, now, now, self.store.clock())]})

    def set_model_tag(self, name: str, key: str, value: str | None) -> None:
        """Set (or, with ``value=None``, delete) a tag of a model."""
        model_id = self.model_ids(name)
        self._write({REGISTERED_MODEL_TAGS: [(model_id, key, value, self.store.clock())]})

    # ------------------------------------------------------------ model versions

    def create_version(self, name: str, source: str, run_id: str | None, tags: dict[str, str],
                       run_link: str | None, description: str | None, user_id: str) -> int:
        """Add the next version of a model (max of every version ever created, plus one)."""
        with self._locked():
            with self.store.session() as con:
                model_id = self.model_id(con, name)
                [(highest,)] = con.execute(
                    'SELECT max(CAST("version" AS BIGINT)) FROM "model_versions" WHERE "model_id" = ?', [model_id]
                ).fetchall()
            version = int(highest or 0) + 1
            now, seq = _now_ms(), self.store.clock()
            self._write({
                MODEL_VERSIONS: [(model_id, str(version), source, run_id, run_link, description,
                                  ModelVersionStages.NONE, ModelVersionStatus.READY, user_id, now, now, None, seq)],
                MODEL_VERSION_TAGS: [(model_id, str(version), k, v, seq) for k, v in tags.items()],
                REGISTERED_MODELS: [(model_id, None, None, None, now, None, seq)],
            })
        return version

    def update_version(self, name: str, version: int, description: str) -> None:
        """Set a version's description."""
        with self.store.session() as con:
            model_id = self.model_id(con, name)
            self._check_version(con, model_id, name, version)
        self._write({MODEL_VERSIONS: [self._version_event(model_id, version, description=description)]})

    def _version_event(self, model_id: str, version: int, **values: Any) -> tuple[Any, ...]:
        values.setdefault("last_updated_timestamp", _now_ms())
        names = MODEL_VERSIONS.column_names[2:-1]
        return (model_id, str(version), *(values.get(n) for n in names), self.store.clock())

    def delete_version(self, name: str, version: int) -> None:
        """Delete a version (its number is never reused) and the aliases pointing to it."""
        with self._locked():
            with self.store.session() as con:
                model_id = self.model_id(con, name)
                self._check_version(con, model_id, name, version)
                aliases = [r[0] for r in con.execute(
                    'SELECT "alias" FROM "model_aliases" WHERE "model_id" = ? AND "value" = ?', [model_id, str(version)]
                ).fetchall()]
            now, seq = _now_ms(), self.store.clock()
            self._write({
                MODEL_VERSIONS: [self._version_event(model_id, version, deleted_timestamp=now)],
                MODEL_ALIASES: [(model_id, a, None, seq) for a in aliases],
                REGISTERED_MODELS: [(model_id, None, None, None, now, None, seq)],
            })

    def set_version_tag(self, name: str, version: int, key: str, value: str | None) -> None:
        """Set (or, with ``value=None``, delete) a tag of a version."""
        with self.store.session() as con:
            model_id = self.model_id(con, name)
            self._check_version(con, model_id, name, version)
        self._write({MODEL_VERSION_TAGS: [(model_id, str(version), key, value, self.store.clock())]})

    def transition(self, name: str, version: int, stage: str, archive_existing: bool, user_id: str) -> None:
        """Move a version to ``stage`` (canonical), optionally archiving the stage's other holders;
        every move is recorded in the stage-transition history."""
        with self._locked():
            with self.store.session() as con:
                model_id = self.model_id(con, name)
                self._check_version(con, model_id, name, version)
                holders = con.execute(
                    'SELECT "version", "current_stage" FROM "model_versions" WHERE "model_id" = ? '
                    'AND "deleted_timestamp" IS NULL AND ("version" = ? OR ("current_stage" = ? AND ?))',
                    [model_id, str(version), stage, archive_existing],
                ).fetchall()
            now = _now_ms()
            moves = [(int(v), current or ModelVersionStages.NONE,
                      stage if int(v) == version else ModelVersionStages.ARCHIVED) for v, current in holders]
            self._write({
                MODEL_VERSIONS: [self._version_event(model_id, v, current_stage=to, last_updated_timestamp=now)
                                 for v, _, to in moves],
                STAGE_TRANSITIONS: [(model_id, str(v), _transition_id(seq := self.store.clock()), frm, to, user_id,
                                     now, seq) for v, frm, to in sorted(moves, key=lambda m: m[0] == version)],
                REGISTERED_MODELS: [(model_id, None, None, None, now, None, self.store.clock())],
            })

    def set_alias(self, name: str, alias: str, version: int | None) -> None:
        """Point ``alias`` at ``version`` (checked to exist), or delete it with ``version=None``."""
        with self._locked():
            with self.store.session() as con:
                model_id = self.model_id(con, name)
                if version is not None:
                    self._check_version(con, model_id, name, version)
            self._write({MODEL_ALIASES: [(model_id, alias, None if version is None else str(version),
                                          self.store.clock())]})

    # ------------------------------------------------------------ reading entities

    def versions(self, con: duckdb.DuckDBPyConnection, keys: Sequence[tuple[str, str]]) -> list[ModelVersion]:
        """Live versions by ``(model_id, version)`` key, in the order given; unknown keys are left out."""
        if not keys:
            return []
        flat = [f"{m}/{v}" for m, v in keys]
        rows = con.execute(
            f'SELECT {_VERSION_COLUMNS} FROM "model_versions" v JOIN "registered_models" m '
            'ON m."model_id" = v."model_id" WHERE v."model_id" || \'/\' || v."version" IN (SELECT unnest(?)) '
            'AND v."deleted_timestamp" IS NULL AND m."deleted_timestamp" IS NULL', [flat]
        ).fetchall()
        model_ids = sorted({m for m, _ in keys})
        tags: dict[tuple[str, str], dict[str, str]] = {}
        for mid, ver, k, val in con.execute(
            'SELECT "model_id", "version", "key", "value" FROM "model_version_tags" '
            'WHERE "model_id" IN (SELECT unnest(?)) ORDER BY "key"', [model_ids]
        ).fetchall():
            tags.setdefault((mid, ver), {})[k] = val
        aliases: dict[tuple[str, str], list[str]] = {}
        for mid, alias, ver in con.execute(
            'SELECT "model_id", "alias", "value" FROM "model_aliases" WHERE "model_id" IN (SELECT unnest(?)) '
            'ORDER BY "alias"', [model_ids]
        ).fetchall():
            aliases.setdefault((mid, ver), []).append(alias)
        found = {(r[0], r[1]): r for r in rows}
        out = []
        for key in keys:
            r = found.get(key)
            if r is None:
                continue
            out.append(ModelVersion(
                name=r[2], version=int(r[1]), creation_timestamp=r[3], last_updated_timestamp=r[4],
                description=r[5], user_id=r[6], current_stage=r[7] or ModelVersionStages.NONE, source=r[8],
                run_id=r[9], status=r[10] or ModelVersionStatus.READY, tags=tags.get(key, {}), run_link=r[11],
                aliases=aliases.get(key, []),
            ))
        return out

    def models(self, con: duckdb.DuckDBPyConnection, model_ids: Sequence[str]) -> list[RegisteredModel]:
        """Live models by id, in the order given, with tags, aliases and the latest version per stage."""
        if not model_ids:
            return []
        ids = list(model_ids)
        rows = {r[0]: r for r in con.execute(
            'SELECT "model_id", "name", "creation_timestamp", "last_updated_timestamp", "description" '
            'FROM "registered_models" WHERE "model_id" IN (SELECT unnest(?)) AND "deleted_timestamp" IS NULL', [ids]
        ).fetchall()}
        tags: dict[str, dict[str, str]] = {}
        for mid, k, val in con.execute(
            'SELECT "model_id", "key", "value" FROM "registered_model_tags" WHERE "model_id" IN (SELECT unnest(?)) '
            'ORDER BY "key"', [ids]
        ).fetchall():
            tags.setdefault(mid, {})[k] = val
        aliases: dict[str, dict[str, int]] = {}
        for mid, alias, ver in con.execute(
            'SELECT "model_id", "alias", "value" FROM "model_aliases" WHERE "model_id" IN (SELECT unnest(?)) '
            'ORDER BY "alias"', [ids]
        ).fetchall():
            aliases.setdefault(mid, {})[alias] = int(ver)
        latest_keys = [(r[0], r[1]) for r in con.execute(
            'SELECT "model_id", "version" FROM "model_versions" WHERE "model_id" IN (SELECT unnest(?)) '
            'AND "deleted_timestamp" IS NULL QUALIFY row_number() OVER (PARTITION BY "model_id", '
            'coalesce("current_stage", \'None\') ORDER BY CAST("version" AS BIGINT) DESC) = 1 '
            'ORDER BY "model_id", CAST("version" AS BIGINT)', [ids]
        ).fetchall()]
        latest: dict[str, list[ModelVersion]] = {}
        for (mid, _), mv in zip(latest_keys, self.versions(con, latest_keys)):
            latest.setdefault(mid, []).append(mv)
        return [
            RegisteredModel(r[1], r[2], r[3], r[4], latest.get(mid, []), tags.get(mid, {}), aliases.get(mid, {}))
            for mid in ids if (r := rows.get(mid)) is not None
        ]

    def alias_version(self, con: duckdb.DuckDBPyConnection, model_id: str, name: str, alias: str) -> str:
        """The version an alias points to (RESOURCE_DOES_NOT_EXIST if the alias is not set)."""
        rows = con.execute(
            'SELECT "value" FROM "model_aliases" WHERE "model_id" = ? AND "alias" = ?', [model_id, alias]
        ).fetchall()
        if not rows:
            raise ResourceNotFound(f"Registered model alias {alias} not found for model {name!r}.")
        return str(rows[0][0])

    def stage_history(self, con: duckdb.DuckDBPyConnection, model_id: str, name: str,
                      version: int) -> list[StageTransition]:
        """Every recorded stage change of a version, oldest first."""
        rows = con.execute(
            'SELECT "from_stage", "to_stage", "user_id", "timestamp" FROM "stage_transitions" '
            'WHERE "model_id" = ? AND "version" = ? ORDER BY "transition_id"', [model_id, str(version)]
        ).fetchall()
        return [StageTransition(name, version, r[0], r[1], r[2], r[3]) for r in rows]

"""The model registry over a real store: entities, versions, stages, aliases, search, every error path,
and version numbering under concurrent registration from several processes."""

from __future__ import annotations

import getpass
from pathlib import Path

import pytest
from conftest import start_worker

from lite_tracker import MlflowClient
from lite_tracker.entities.model_registry import ModelVersion, RegisteredModel
from lite_tracker.errors import LiteTrackerException


def _err(code: str, match: str):  # type: ignore[no-untyped-def]
    class _Check:
        def __enter__(self) -> None:
            self.ctx = pytest.raises(LiteTrackerException, match=match)
            self.info = self.ctx.__enter__()

        def __exit__(self, *exc: object) -> bool:
            handled = self.ctx.__exit__(*exc)  # type: ignore[arg-type]
            assert self.info.value.error_code == code, self.info.value
            return bool(handled)

    return _Check()


def _model(client: MlflowClient, name: str = "iris", versions: int = 0) -> None:
    client.create_registered_model(name)
    for i in range(versions):
        client.create_model_version(name, f"file:///m/{name}/{i}")


def test_create_get_update_rename_delete(client: MlflowClient) -> None:
    rm = client.create_registered_model("iris", tags={"team": "ml"}, description="first")
    assert isinstance(rm, RegisteredModel)
    assert (rm.name, rm.description, rm.tags) == ("iris", "first", {"team": "ml"})
    assert rm.latest_versions == [] and rm.aliases == {}
    assert rm.creation_timestamp == rm.last_updated_timestamp
    assert client.update_registered_model("iris", description="second").description == "second"
    client.set_registered_model_tag("iris", "owner", 7)
    client.delete_registered_model_tag("iris", "team")
    client.delete_registered_model_tag("iris", "never-set")  # MLflow: not an error
    assert client.get_registered_model("iris").tags == {"owner": "7"}
    mv = client.create_model_version("iris", "file:///m/1", tags={"k": "v"}, description="d")
    renamed = client.rename_registered_model("iris", "flowers")
    assert renamed.name == "flowers" and renamed.tags == {"owner": "7"}
    assert client.get_model_version("flowers", mv.version).name == "flowers"
    with _err("RESOURCE_DOES_NOT_EXIST", "name=iris not found"):
        client.get_registered_model("iris")
    client.create_registered_model("iris")  # the old name is free again
    client.delete_registered_model("flowers")
    with _err("RESOURCE_DOES_NOT_EXIST", "flowers"):
        client.get_model_version("flowers", 1)
    client.create_registered_model("flowers")
    assert client.create_model_version("flowers", "file:///m/2").version == 1  # a new model starts at 1


def test_versions_increment_and_are_never_reused(client: MlflowClient) -> None:
    _model(client, versions=3)
    client.delete_model_version("iris", 3)
    with _err("RESOURCE_DOES_NOT_EXIST", r"Model Version \(name=iris, version=3\) not found"):
        client.get_model_version("iris", "3")
    mv = client.create_model_version("iris", "file:///m/next", run_link="http://x", description="fourth")
    assert isinstance(mv, ModelVersion)
    assert (mv.version, mv.current_stage, mv.status, mv.description, mv.run_link) == (4, "None", "READY", "fourth",
                                                                                       "http://x")
    assert mv.user_id == getpass.getuser()
    assert client.update_model_version("iris", 4, description="").description == ""
    client._store.compact()  # the same answers from the compacted DuckDB file
    assert [v.version for v in client.search_model_versions("name = 'iris'")] == [4, 2, 1]


def test_version_source_from_run_uri(client: MlflowClient) -> None:
    run = client.create_run("0")
    _model(client)
    mv = client.create_model_version("iris", f"runs:/{run.info.run_id}/model")
    assert mv.run_id == run.info.run_id and mv.source == f"{run.info.artifact_uri}/model"
    assert client.get_model_version_download_uri("iris", 1) == mv.source


def test_version_source_from_a_run_this_store_does_not_know(client: MlflowClient) -> None:
    """MLflow's registry does not own runs: a ``runs:/`` source or ``run_id`` of a run kept elsewhere
    is registered as given, and its download URI is that source."""
    _model(client)
    mv = client.create_model_version("iris", "runs:/0123/model")
    assert (mv.source, mv.run_id) == ("runs:/0123/model", "0123")
    mv = client.create_model_version("iris", "runs:/run_id/model", "run_id_1")
    assert (mv.source, mv.run_id) == ("runs:/run_id/model", "run_id_1")
    assert client.get_model_version_download_uri("iris", 2) == "runs:/run_id/model"
    assert [v.version for v in client.search_model_versions("source_path = 'runs:/run_id/model'")] == [2]


def test_stages_transitions_archive_and_history(client: MlflowClient) -> None:
    _model(client, versions=3)
    assert client.transition_model_version_stage("iris", 1, "production").current_stage == "Production"
    client.transition_model_version_stage("iris", 2, "PRODUCTION")  # without archiving: two in Production
    assert {v.version for v in client.get_latest_versions("iris", ["Production"])} == {2}
    assert [v.current_stage for v in client.search_model_versions("name='iris'", order_by=["version_number"])] == [
        "Production", "Production", "None"]
    client.transition_model_version_stage("iris", 3, "Production", archive_existing_versions=True)
    stages = {v.version: v.current_stage for v in client.search_model_versions("name='iris'")}
    assert stages == {1: "Archived", 2: "Archived", 3: "Production"}
    client.transition_model_version_stage("iris", 1, "development")
    latest = client.get_latest_versions("iris")
    assert {(v.current_stage, v.version) for v in latest} == {("Development", 1), ("Archived", 2), ("Production", 3)}
    assert [v.version for v in client.get_latest_versions("iris", ["archived", "Production"])] == [2, 3]
    history = client.get_model_version_stage_history("iris", 1)
    assert [(h.from_stage, h.to_stage) for h in history] == [
        ("None", "Production"), ("Production", "Archived"), ("Archived", "Development")]
    assert all(h.user_id == getpass.getuser() and h.timestamp > 0 and h.name == "iris" for h in history)
    assert client.get_model_version_stage_history("iris", 3)[-1].to_stage == "Production"
    with _err("INVALID_PARAMETER_VALUE", "Invalid Model Version stage: 'Prod'"):
        client.transition_model_version_stage("iris", 1, "Prod")
    with _err("INVALID_PARAMETER_VALUE", "not an Active stage"):
        client.transition_model_version_stage("iris", 1, "Archived", archive_existing_versions=True)
    with _err("RESOURCE_DOES_NOT_EXIST", "version=9"):
        client.transition_model_version_stage("iris", 9, "Staging")


def test_aliases(client: MlflowClient) -> None:
    _model(client, versions=2)
    client.set_registered_model_alias("iris", "champion", 1)
    client.set_registered_model_alias("iris", "champion", "2")  # moves
    client.set_registered_model_alias("iris", "chal-lenger_1", 1)
    assert client.get_model_version_by_alias("iris", "champion").version == 2
    assert client.get_registered_model("iris").aliases == {"chal-lenger_1": 1, "champion": 2}
    assert client.get_model_version("iris", 1).aliases == ["chal-lenger_1"]
    client.delete_registered_model_alias("iris", "chal-lenger_1")
    client.delete_registered_model_alias("iris", "never-set")
    with _err("RESOURCE_DOES_NOT_EXIST", "alias chal-lenger_1 not found"):
        client.get_model_version_by_alias("iris", "chal-lenger_1")
    client.delete_model_version("iris", 2)  # deleting a version drops its aliases
    with _err("RESOURCE_DOES_NOT_EXIST", "alias champion not found"):
        client.get_model_version_by_alias("iris", "champion")
    for bad, match in (("latest", "reserved"), ("LaTeSt", "reserved"), ("v12", "reserved"), ("V3", "reserved"),
                       ("a b", "Invalid alias name"), ("a.b", "Invalid alias name"), ("x" * 256, "limit is 255"),
                       ("", "non-empty")):
        with _err("INVALID_PARAMETER_VALUE", match):
            client.set_registered_model_alias("iris", bad, 1)
    client.set_registered_model_alias("iris", "x" * 255, 1)
    with _err("RESOURCE_DOES_NOT_EXIST", "version=5"):
        client.set_registered_model_alias("iris", "champion", 5)


def test_model_version_tags(client: MlflowClient) -> None:
    _model(client, versions=2)
    client.set_model_version_tag("iris", 1, "validated", True)
    client.transition_model_version_stage("iris", 2, "Staging")
    client.set_model_version_tag("iris", key="by_stage", value="yes", stage="staging")
    assert client.get_model_version("iris", 1).tags == {"validated": "True"}
    assert client.get_model_version("iris", 2).tags == {"by_stage": "yes"}
    client.delete_model_version_tag("iris", 1, "validated")
    assert client.get_model_version("iris", 1).tags == {}
    with _err("INVALID_PARAMETER_VALUE", "limit is 5000"):
        client.set_model_version_tag("iris", 1, "k", "x" * 5001)
    with _err("INVALID_PARAMETER_VALUE", ": version and stage cannot be set together$"):  # MLflow's words
        client.set_model_version_tag("iris", 1, "k", "v", stage="Staging")
    with _err("INVALID_PARAMETER_VALUE", ": version or stage must be set$"):
        client.delete_model_version_tag("iris", key="k")
    with _err("RESOURCE_DOES_NOT_EXIST", "stage 'Production'"):
        client.set_model_version_tag("iris", key="k", value="v", stage="Production")


def test_search(client: MlflowClient) -> None:
    for name, team in (("iris-a", "ml"), ("iris-b", "ops"), ("wine", "ml")):
        client.create_registered_model(name, tags={"team": team})
    for _ in range(3):
        client.create_model_version("iris-a", "file:///src/a")
    client.create_model_version("wine", "file:///src/w")
    client.set_model_version_tag("iris-a", 2, "good", "yes")
    names = [m.name for m in client.search_registered_models()]
    assert names == ["iris-a", "iris-b", "wine"]
    assert [m.name for m in client.search_registered_models("name LIKE 'iris%' AND tags.team = 'ml'")] == ["iris-a"]
    assert [m.name for m in client.search_registered_models("name ILIKE 'IRIS%'", order_by=["name DESC"])] == [
        "iris-b", "iris-a"]
    page = client.search_registered_models(max_results=2)
    assert [m.name for m in page] == ["iris-a", "iris-b"] and page.token
    assert [m.name for m in client.search_registered_models(max_results=2, page_token=page.token)] == ["wine"]
    assert [m.name for m in client.search_registered_models(order_by=["last_updated_timestamp DESC"])][0] == "wine"
    vs = client.search_model_versions("name = 'iris-a' AND version_number >= 2")
    assert [(v.name, v.version) for v in vs] == [("iris-a", 3), ("iris-a", 2)]
    assert [v.version for v in client.search_model_versions("tags.good = 'yes'")] == [2]
    assert [v.name for v in client.search_model_versions("source_path = 'file:///src/w'")] == ["wine"]
    assert len(client.search_model_versions("run_id IN ('nope')")) == 0
    assert [(v.name, v.version) for v in client.search_model_versions(order_by=["name DESC"])][:2] == [
        ("wine", 1), ("iris-a", 3)]
    paged = client.search_model_versions(max_results=3)
    assert len(paged) == 3 and len(client.search_model_versions(page_token=paged.token)) == 1
    for bad, match in (("name = 'a' OR name = 'b'", "OR is not supported"), ("metrics.x > 1", "Metrics cannot"),
                       ("version_number = '1'", "unquoted number"), ("current_stage = 'x'", "get_latest_versions")):
        with _err("INVALID_PARAMETER_VALUE", match):
            client.search_model_versions(bad)
    with _err("INVALID_PARAMETER_VALUE", "valid keys are"):
        client.search_registered_models("tags.x = 'a' AND creation_timestamp > 1")
    with _err("INVALID_PARAMETER_VALUE", "at most 1000"):
        client.search_registered_models(max_results=1001)
    q = "name = 'x'' OR 1=1 --'"  # values are bound parameters, never SQL text
    assert client.search_registered_models(q) == []


def test_search_model_versions_default_order_is_last_updated_first(client: MlflowClient) -> None:
    """MLflow orders by ``last_updated_timestamp DESC, name ASC, version_number DESC`` when no
    ``order_by`` is given: the version touched last comes first, whatever its model."""
    _model(client, "b", versions=1)
    _model(client, "a", versions=2)
    client.create_model_version("b", "file:///m/b/late")
    assert [(v.name, v.version) for v in client.search_model_versions()] == [("b", 2), ("a", 2), ("a", 1), ("b", 1)]
    client.update_model_version("a", 1, "touched")  # a description change counts as an update
    assert [(v.name, v.version) for v in client.search_model_versions(max_results=2)] == [("a", 1), ("b", 2)]
    assert [(v.name, v.version) for v in client.search_model_versions(order_by=["name"])] == [
        ("a", 2), ("a", 1), ("b", 2), ("b", 1)]


def test_search_prompt_marker_missing_means_not_a_prompt(client: MlflowClient) -> None:
    """MLflow's client adds ``tag.`mlflow.prompt.is_prompt` != 'true'`` to every registered-model search;
    as in MLflow, a model without the marker matches it (and ``= 'false'``), a marked prompt does not."""
    client.create_registered_model("plain")
    client.create_registered_model("prompt", tags={"mlflow.prompt.is_prompt": "true"})
    client.create_registered_model("flagged", tags={"mlflow.prompt.is_prompt": "false"})
    client.create_model_version("plain", "file:///src/p")
    client.create_model_version("prompt", "file:///src/q", tags={"mlflow.prompt.is_prompt": "true"})
    not_prompts = "tag.`mlflow.prompt.is_prompt` != 'true'"
    assert [m.name for m in client.search_registered_models(not_prompts)] == ["flagged", "plain"]
    assert [m.name for m in client.search_registered_models(f"name = 'plain' AND {not_prompts}")] == ["plain"]
    assert [m.name for m in client.search_registered_models("tags.`mlflow.prompt.is_prompt` = 'false'")] == [
        "flagged", "plain"]
    assert [m.name for m in client.search_registered_models("tags.`mlflow.prompt.is_prompt` = 'true'")] == ["prompt"]
    assert [v.name for v in client.search_model_versions(not_prompts)] == ["plain"]
    assert [m.name for m in client.search_registered_models("tags.other != 'true'")] == []  # other keys: unchanged


def test_error_paths(client: MlflowClient) -> None:
    _model(client, versions=1)
    with _err("RESOURCE_ALREADY_EXISTS", r"Registered Model \(name=iris\) already exists"):
        client.create_registered_model("iris")
    client.create_registered_model("other")
    with _err("RESOURCE_ALREADY_EXISTS", "other"):
        client.rename_registered_model("iris", "other")
    for bad, match in (("", "non-empty"), ("a/b", "may not contain '/'"), ("x" * 257, "limit is 256"),
                       (None, "non-empty")):
        with _err("INVALID_PARAMETER_VALUE", match):
            client.create_registered_model(bad)  # type: ignore[arg-type]
    for call in (lambda: client.get_registered_model("nope"),
                 lambda: client.create_model_version("nope", "file:///x"),
                 lambda: client.delete_registered_model("nope"),
                 lambda: client.set_registered_model_tag("nope", "k", "v"),
                 lambda: client.get_latest_versions("nope"),
                 lambda: client.rename_registered_model("nope", "n2")):
        with _err("RESOURCE_DOES_NOT_EXIST", "name=nope not found"):
            call()
    with _err("INVALID_PARAMETER_VALUE", "Parameter 'version' must be an integer, got 'one'\\.$"):  # MLflow's words
        client.get_model_version("iris", "one")
    for bad in (True, 1.5):
        with _err("INVALID_PARAMETER_VALUE", "Parameter 'version' must be an integer"):
            client.get_model_version("iris", bad)  # type: ignore[arg-type]
    for bad in (0, -1):
        with _err("INVALID_PARAMETER_VALUE", "Model version must be an integer >= 1"):
            client.get_model_version("iris", bad)
    with _err("RESOURCE_DOES_NOT_EXIST", "version=2"):
        client.delete_model_version("iris", 2)
    with _err("RESOURCE_DOES_NOT_EXIST", "version=2"):
        client.update_model_version("iris", 2, "d")
    with _err("INVALID_PARAMETER_VALUE", "no new field values"):
        client.update_model_version("iris", 1)
    with _err("INVALID_PARAMETER_VALUE", "no new field values"):
        client.update_registered_model("iris")
    with _err("INVALID_PARAMETER_VALUE", "Invalid tag name"):
        client.set_registered_model_tag("iris", "bad//key", "v")
    with _err("INVALID_PARAMETER_VALUE", "non-empty string"):
        client.create_model_version("iris", "")


def test_registry_survives_compaction_and_old_segments(client: MlflowClient, store_path: Path) -> None:
    """Events segments written before format 3 (without registry columns) still compact."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pending = store_path.parent / (store_path.name + ".d") / "pending" / "events"
    old = pa.table({"table": ["experiment_events"], "experiment_id": ["42"], "name": ["old-exp"],
                    "artifact_location": ["/a"], "lifecycle_stage": ["active"], "creation_time": [1],
                    "last_update_time": [1], "seq": [1]})
    pq.write_table(old, pending / "00000000000000000000000000000001.parquet")
    _model(client, versions=2)
    assert client.get_experiment("42").name == "old-exp"
    assert client._store.compact() is not None
    assert client.get_experiment("42").name == "old-exp"
    assert [v.version for v in client.search_model_versions()] == [2, 1]


def test_concurrent_registration_gives_consecutive_distinct_versions(client: MlflowClient, store_path: Path) -> None:
    _model(client)
    client.flush()
    workers = [start_worker("register_versions", str(store_path), "iris", "3") for _ in range(6)]
    got: list[int] = []
    for w in workers:
        out, err = w.communicate(timeout=120)
        assert w.returncode == 0, err[-3000:]
        got += [int(x) for x in out.split()]
    assert sorted(got) == list(range(1, 19))
    assert sorted(v.version for v in client.search_model_versions("name = 'iris'")) == list(range(1, 19))

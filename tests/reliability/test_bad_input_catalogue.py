"""The bad-input catalogue: a table of hostile or malformed inputs across the public API and the CLI.
Each one gets its documented error (a LiteTrackerException with MLflow's error code; for the CLI,
exit code 2 and one line on stderr) and leaves the store exactly as it was."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _faults import tree_digest
from test_bounded_work import BAD_TOKENS

import lite_tracker as mlflow
from lite_tracker import MlflowClient
from lite_tracker.cli.main import main as cli
from lite_tracker.entities import Metric, Param, RunTag
from lite_tracker.errors import LiteTrackerException
from lite_tracker.tracking.client import close_all

INVALID = "INVALID_PARAMETER_VALUE"
MISSING = "RESOURCE_DOES_NOT_EXIST"
EXISTS = "RESOURCE_ALREADY_EXISTS"


class Ctx:
    """The store every entry runs against: one experiment, one running run with a param and a tag,
    and a registered model."""

    def __init__(self, store: Path) -> None:
        self.store = store
        self.client = MlflowClient(str(store))
        self.exp = self.client.create_experiment("catalogue")
        self.run = self.client.create_run(self.exp).info.run_id
        self.client.log_param(self.run, "lr", "0.1")
        self.client.set_tag(self.run, "team", "a")
        self.client.log_metric(self.run, "loss", 1.0)
        self.client.create_registered_model("model")
        self.local = store.parent / "file.txt"
        self.local.write_text("x")


Entry = tuple[str, Callable[[Ctx], Any], str]
CASES: list[Entry] = []


def case(name: str, code: str, call: Callable[[Ctx], Any]) -> None:
    CASES.append((name, call, code))


# ---- keys of metrics, params and tags: types, control characters, traversal, length
BAD_KEYS: list[Any] = [None, 1, 1.5, b"k", ["k"], {"k": 1}, "", "a\x00b", "a\nb", "a\tb", "../k", "/k", "k/",
                       "a//b", "a/../b", ".", "..", "k" * 251, "a;b", "a'b", 'a"b', "a*b", "a\x7fb", "a\u202eb",
                       "日本\x00"]
for i, key in enumerate(BAD_KEYS):
    case(f"metric-key-{i}", INVALID, lambda c, k=key: c.client.log_metric(c.run, k, 1.0))
    case(f"param-key-{i}", INVALID, lambda c, k=key: c.client.log_param(c.run, k, "v"))
    case(f"tag-key-{i}", INVALID, lambda c, k=key: c.client.set_tag(c.run, k, "v"))

# ---- metric values, steps and timestamps
for i, value in enumerate(["1.0", None, [1.0], {"v": 1}, b"1", 1 + 2j, object()]):
    case(f"metric-value-{i}", INVALID, lambda c, v=value: c.client.log_metric(c.run, "m", v))
for i, step in enumerate(["1", 1.5, [1], 2**63, -(2**63) - 1, math.nan]):
    case(f"metric-step-{i}", INVALID, lambda c, s=step: c.client.log_metric(c.run, "m", 1.0, step=s))
for i, ts in enumerate(["now", 1.5, -1, 2**63, math.inf]):
    case(f"metric-timestamp-{i}", INVALID, lambda c, t=ts: c.client.log_metric(c.run, "m", 1.0, timestamp=t))

# ---- params and tags: immutability, lengths, batches
case("param-changed", INVALID, lambda c: c.client.log_param(c.run, "lr", "0.2"))
case("param-too-long", INVALID, lambda c: c.client.log_param(c.run, "long", "x" * 6001))
case("tag-too-long", INVALID, lambda c: c.client.set_tag(c.run, "long", "x" * 8001))
case("batch-duplicate-param", INVALID,
     lambda c: c.client.log_batch(c.run, params=[Param("d", "1"), Param("d", "2")]))
case("batch-bad-metric-after-good", INVALID,
     lambda c: c.client.log_batch(c.run, [Metric("good", 1.0, 0, 0), Metric("bad", "x", 0, 0)]))  # type: ignore[arg-type]
case("batch-bad-tag-after-good", INVALID,
     lambda c: c.client.log_batch(c.run, tags=[RunTag("ok", "1"), RunTag("../bad", "1")]))
case("delete-missing-tag", MISSING, lambda c: c.client.delete_tag(c.run, "nope"))

# ---- run ids: types, formats, traversal, unknown
BAD_RUN_IDS: list[Any] = [None, 1, "", "../../etc/passwd", "abc\x00", ["r"], "' OR 1=1 --", "-abc", "a" * 257,
                          "a b"]
for i, rid in enumerate(BAD_RUN_IDS):
    case(f"run-id-get-{i}", INVALID, lambda c, r=rid: c.client.get_run(r))
    case(f"run-id-log-{i}", INVALID, lambda c, r=rid: c.client.log_metric(r, "m", 1.0))
for i, rid in enumerate(["x", "a" * 33, "0" * 31, "g" * 32]):  # well-formed ids (MLflow's rule) of no run
    case(f"run-unknown-{i}", MISSING, lambda c, r=rid: c.client.get_run(r))
case("run-unknown-get", MISSING, lambda c: c.client.get_run("f" * 32))
case("run-unknown-log", MISSING, lambda c: c.client.log_metric("f" * 32, "m", 1.0))
case("run-unknown-history", MISSING, lambda c: c.client.get_metric_history("f" * 32, "m"))
case("run-bad-status", INVALID, lambda c: c.client.set_terminated(c.run, "DONE"))
case("run-in-unknown-experiment", MISSING, lambda c: c.client.create_run("999999"))
case("run-name-not-string", INVALID, lambda c: c.client.create_run(c.exp, run_name=5))  # type: ignore[arg-type]

# ---- experiments
for i, name in enumerate([None, "", 1, "x" * 501, ["n"]]):
    case(f"experiment-name-{i}", INVALID, lambda c, n=name: c.client.create_experiment(n))
case("experiment-duplicate", EXISTS, lambda c: c.client.create_experiment("catalogue"))
case("experiment-unknown-id", MISSING, lambda c: c.client.get_experiment("999999"))
case("experiment-unknown-name-id", MISSING, lambda c: c.client.get_experiment("abc"))
for i, eid in enumerate([None, "1; DROP TABLE runs", -1, "../0", ["0"]]):
    case(f"experiment-id-{i}", INVALID, lambda c, e=eid: c.client.get_experiment(e))

# ---- search: hostile filters, order_by, max_results, page tokens
BAD_FILTERS = [
    "metrics.loss > 'x'", "params.lr > 1", "tags.team < 'b'", "metrics.loss = 1 OR metrics.loss = 2",
    "metrics.loss", "metrics.loss >", "> 1", "metrics.loss >> 1", "params.lr = 'unclosed", "params.`lr = '1'",
    "attributes.nope = 'x'", "nope.loss > 1", "metrics.loss > 1 AND", "AND metrics.loss > 1",
    "metrics.loss > 1; DROP TABLE runs", "1=1", "run_id IN ()", "run_id IN ('a'", "params.lr IN ('1')",
    "metrics.loss IS 1", "metrics.loss LIKE 1", "(metrics.loss > 1)", "metrics.loss > 1 -- comment",
    "params.lr = '1' UNION SELECT * FROM runs", "status = 1", "start_time = 'yesterday'",
    " AND ".join(["metrics.loss > 0"] * 101), "\x00", "metrics.loss > 0x10",
]
for i, f in enumerate(BAD_FILTERS):
    case(f"filter-{i}", INVALID, lambda c, f=f: c.client.search_runs([c.exp], filter_string=f))
for i, order in enumerate([["metrics.loss SIDEWAYS"], ["nope.x"], "metrics.loss", [1], ["metrics.loss", "metrics.loss"],
                           ["metrics.loss DESC; DROP TABLE runs"]]):
    case(f"order-by-{i}", INVALID, lambda c, o=order: c.client.search_runs([c.exp], order_by=o))
for i, n in enumerate([0, -1, 50001, "10", 1.5, None, True]):
    case(f"max-results-{i}", INVALID, lambda c, n=n: c.client.search_runs([c.exp], max_results=n))
for i, token in enumerate(BAD_TOKENS):
    case(f"page-token-{i}", INVALID, lambda c, t=token: c.client.search_runs([c.exp], page_token=t))
case("experiments-filter", INVALID, lambda c: c.client.search_experiments(filter_string="name >> 'x'"))
case("models-filter", INVALID, lambda c: c.client.search_registered_models(filter_string="nope = 1"))

# ---- user SQL
BAD_SQL = [
    "DROP TABLE runs", "DELETE FROM runs", "INSERT INTO runs VALUES (1)", "COPY runs TO 'out.csv'",
    "SELECT * FROM read_csv('/etc/passwd')", "SELECT * FROM read_parquet('*.parquet')", "ATTACH 'x.duckdb'",
    "PRAGMA database_list", "SET memory_limit='1GB'", "SELECT 1; SELECT 2", "SELECT getenv('HOME')",
    "SELECT current_setting('threads')", "SELECT * FROM duckdb_settings()", "INSTALL httpfs", "LOAD httpfs",
    "SELECT * FROM nope", "SELEC 1", "", "CALL pragma_version()", "EXPORT DATABASE 'x'",
]
for i, q in enumerate(BAD_SQL):
    case(f"sql-{i}", INVALID, lambda c, q=q: c.client.sql(q))
for i, t in enumerate([0, -1, math.nan, math.inf, "5"]):
    case(f"sql-timeout-{i}", INVALID, lambda c, t=t: c.client.sql("SELECT 1", timeout=t))
case("sql-not-string", INVALID, lambda c: c.client.sql(None))  # type: ignore[arg-type]

# ---- artifacts: traversal, absolute paths, names the OS refuses, missing sources
BAD_ARTIFACT_PATHS = ["../x.txt", "/etc/x.txt", "a/../../x.txt", "C:/x.txt", "a\x00b.txt", "x" * 300,
                      "d/" + "y" * 256 + "/f.txt", "..", "a/../.."]
for i, p in enumerate(BAD_ARTIFACT_PATHS):
    case(f"artifact-text-{i}", INVALID, lambda c, p=p: c.client.log_text(c.run, "x", p))
    case(f"artifact-dir-{i}", INVALID, lambda c, p=p: c.client.log_artifact(c.run, c.local, p))
case("artifact-missing-file", MISSING, lambda c: c.client.log_artifact(c.run, c.store.parent / "nope.txt"))
case("artifact-download-traversal", INVALID, lambda c: c.client.download_artifacts(c.run, "../../etc"))
case("artifact-download-missing", MISSING, lambda c: c.client.download_artifacts(c.run, "nope.txt"))

# ---- model URIs and the registry
BAD_MODEL_URIS = ["models:/", "models:/../x/1", "models:/model/0", "models:/model/-1", "models:/model/abc",
                  "models:/nope/1", "models:/model@", "runs:/", "runs:/../../etc/passwd", "runs:/" + "f" * 32 + "/m",
                  "s3//x", ""]
for i, uri in enumerate(BAD_MODEL_URIS):
    code = MISSING if uri in ("models:/nope/1", "runs:/" + "f" * 32 + "/m", "s3//x", "") else INVALID
    case(f"model-uri-{i}", code, lambda c, u=uri: mlflow.pyfunc.load_model(u))
case("registry-duplicate", EXISTS, lambda c: c.client.create_registered_model("model"))
case("registry-missing-version", MISSING, lambda c: c.client.get_model_version("model", 5))
case("registry-bad-version", INVALID, lambda c: c.client.get_model_version("model", "five"))
case("registry-bad-stage", INVALID, lambda c: c.client.transition_model_version_stage("model", 1, "Live"))
case("registry-bad-name", INVALID, lambda c: c.client.create_registered_model(""))


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ctx]:
    c = Ctx(tmp_path_factory.mktemp("catalogue") / "s.duckdb")
    c.client.flush()
    c.client._store.compact()
    c.client._store.stop_compactor()  # the store changes only if a bad input changes it
    yield c
    close_all()


def _settled(c: Ctx) -> dict[str, str]:
    c.client.flush()
    return tree_digest(c.store.parent)


@pytest.mark.parametrize(("name", "call", "code"), CASES, ids=[n for n, _, _ in CASES])
def test_bad_input_gets_its_error_and_leaves_the_store_unchanged(ctx: Ctx, name: str,
                                                                 call: Callable[[Ctx], Any], code: str) -> None:
    before = _settled(ctx)
    with pytest.raises(LiteTrackerException) as e:
        call(ctx)
    assert e.value.error_code == code, f"{name}: {e.value}"
    assert e.value.message.strip()
    assert _settled(ctx) == before


CLI_CASES = [
    ["compact", "--store", "{notdb}"],
    ["models", "describe", "nope", "--store", "{store}"],
    ["models", "describe", "model", "--version", "7", "--store", "{store}"],
    ["compact", "--store", "http://server:5000"],
    ["compact", "--store", "sqlite:///x.db"],
]


@pytest.mark.parametrize("argv", CLI_CASES, ids=[" ".join(a[:3]) for a in CLI_CASES])
def test_bad_cli_input_exits_2_with_one_line(ctx: Ctx, argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    before = _settled(ctx)
    notdb = ctx.store.parent / "notdb.duckdb"
    notdb.write_text("not a database" * 10)
    assert cli([a.format(store=ctx.store, notdb=notdb) for a in argv]) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err.count("\n") == 1 and out.err.startswith("lite-tracker: error: ")
    notdb.unlink()
    assert _settled(ctx) == before


def test_the_catalogue_holds_at_least_150_inputs() -> None:
    assert len(CASES) + len(CLI_CASES) >= 150

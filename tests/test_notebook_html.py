"""Notebook rendering: ``_repr_html_`` of runs, experiments, models, versions and search results is a
compact, well-formed, escaped HTML table; logging prints nothing."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

import lite_tracker as mlflow
from lite_tracker import MlflowClient
from lite_tracker.entities import PagedList

HOSTILE = "<script>alert('x')</script>&\"'"
VOID = {"br"}


class _Checker(HTMLParser):
    """Collects tags and text, and checks that every opened element is closed in order."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> _Checker:
    checker = _Checker()
    checker.feed(html)
    checker.close()
    assert not checker.stack, f"unclosed {checker.stack}"
    assert "script" not in checker.tags and "style" not in checker.tags
    return checker


def test_run_experiment_and_search_results_render_escaped_tables(fluent, capsys: pytest.CaptureFixture[str]) -> None:
    exp = mlflow.set_experiment("html " + HOSTILE)
    for i in range(3):
        with mlflow.start_run(run_name=f"run-{i} {HOSTILE}"):
            mlflow.log_params({"lr": 0.1 * i, "note": HOSTILE})
            mlflow.set_tag("who", HOSTILE)
            for step in range(5):
                mlflow.log_metric("loss", 1.0 / (step + 1 + i), step=step)
    assert capsys.readouterr() == ("", "")  # no output spam while logging

    run = mlflow.last_active_run()
    assert run is not None
    doc = parse(run._repr_html_())
    text = "".join(doc.text)
    assert HOSTILE in text and run.info.run_id in text and "loss" in text and "FINISHED" in text

    exp_doc = parse(mlflow.get_experiment(exp.experiment_id)._repr_html_())
    assert HOSTILE in "".join(exp_doc.text)

    found = mlflow.search_runs(output_format="list")
    assert isinstance(found, PagedList) and len(found) == 3
    listing = parse(found._repr_html_())
    cells = "".join(listing.text)
    assert "3 runs" in cells and "metrics.loss" in cells and "params.lr" in cells and HOSTILE in cells
    assert listing.tags.count("tr") == 4  # header + 3 runs

    page = MlflowClient().search_runs([exp.experiment_id], max_results=2)
    assert parse(page._repr_html_()).tags.count("tr") == 3
    assert "html" in "".join(parse(MlflowClient().search_experiments()._repr_html_()).text)


def test_a_run_shows_a_small_chart_of_each_metric_history(fluent, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pickle

    with mlflow.start_run() as run:
        for step in range(500):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.log_metric("once", 3.0)
        mlflow.log_metric("nan", float("nan"), step=0)
        mlflow.log_metric("nan", float("nan"), step=1)
    doc = parse(mlflow.get_run(run.info.run_id)._repr_html_())
    assert doc.tags.count("svg") == 1 and doc.tags.count("polyline") == 1  # loss only: one point or no number
    html = mlflow.get_run(run.info.run_id)._repr_html_()
    points = html.split('points="')[1].split('"')[0].split()
    assert 2 <= len(points) <= 60  # downsampled on the way out of the store
    xs = [float(p.split(",")[0]) for p in points]
    assert xs == sorted(xs) and xs[0] == 1.0 and xs[-1] == 119.0
    ys = [float(p.split(",")[1]) for p in points]
    assert ys[0] < ys[-1]  # falling loss: the first point is the highest (SVG y grows downwards)
    assert parse(pickle.loads(pickle.dumps(mlflow.get_run(run.info.run_id)))._repr_html_()).tags.count("svg") == 1

    other = MlflowClient(str(tmp_path / "other.duckdb"))  # a run of another store finds its own history
    rid = other.create_run("0").info.run_id
    for step in range(3):
        other.log_metric(rid, "acc", step / 2, step=step)
    assert parse(other.get_run(rid)._repr_html_()).tags.count("polyline") == 1


def test_long_lists_are_cut_with_a_note_and_odd_lists_fall_back_to_repr(fluent) -> None:
    client = MlflowClient()
    exp = client.create_experiment("many")
    for i in range(60):
        client.create_run(exp, run_name=f"r{i}")
    runs = client.search_runs([exp], max_results=100)
    doc = parse(runs._repr_html_())
    assert doc.tags.count("tr") == 51 and "10 more not shown" in "".join(doc.text)
    assert PagedList([], None)._repr_html_() is None
    assert PagedList([1, 2], None)._repr_html_() is None


def test_registered_model_and_versions_render(fluent) -> None:
    client = MlflowClient()
    with mlflow.start_run() as run:
        pass
    client.create_registered_model("clf", tags={"team": HOSTILE}, description=HOSTILE)
    mv = client.create_model_version("clf", f"runs:/{run.info.run_id}/model", run.info.run_id)
    client.transition_model_version_stage("clf", mv.version, "Production")
    client.set_registered_model_alias("clf", "champion", mv.version)
    model = client.get_registered_model("clf")
    text = "".join(parse(model._repr_html_()).text)
    assert "champion" in text and HOSTILE in text and "Production" in text
    version = client.get_model_version("clf", mv.version)
    text = "".join(parse(version._repr_html_()).text)
    assert "champion" in text and run.info.run_id in text and "Production" in text
    assert "clf" in "".join(parse(client.search_registered_models()._repr_html_()).text)
    assert "1 model versions" in "".join(parse(client.search_model_versions("name = 'clf'")._repr_html_()).text)

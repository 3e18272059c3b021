"""``lite-tracker models list|describe|transition|alias|serve``: the model registry from a shell."""

from __future__ import annotations

import dataclasses

import click

from ..tracking.fluent import _all_pages
from ._common import existing_store, json_option, print_json, print_table, read_client, store_option, timestamp


@click.group()
def models() -> None:
    """Work with registered models.

    List them, describe a version, move it between stages, point aliases at it, serve it over HTTP.

    \b
    Example:
      lite-tracker models transition iris 2 Production --archive-existing-versions
    """


@models.command(name="list")
@click.option("--filter", "filter_string", metavar="FILTER",
              help="MLflow's registered-model filter, e.g. \"name LIKE 'iris%'\".")
@store_option
@json_option
def list_models(filter_string: str | None, store: str | None, as_json: bool) -> None:
    """List the registered models with their latest version per stage and their aliases.

    \b
    Example:
      lite-tracker models list --filter "name LIKE 'iris%'"
    """
    client = read_client(store)
    found = _all_pages(lambda n, token: client.search_registered_models(filter_string, n, None, token), None, 1000)
    if as_json:
        print_json([dataclasses.asdict(m) for m in found])
        return
    print_table(["name", "latest versions", "aliases", "updated", "description"],
                [(m.name, ", ".join(f"{mv.version} ({mv.current_stage})" for mv in m.latest_versions),
                  ", ".join(f"{alias}={version}" for alias, version in sorted(m.aliases.items())),
                  timestamp(m.last_updated_timestamp), m.description) for m in found])


@models.command()
@click.argument("name")
@click.option("--version", type=int, help="Version number (default: the latest version).")
@store_option
@json_option
def describe(name: str, version: int | None, store: str | None, as_json: bool) -> None:
    """Show a registered model version (the latest unless --version): stage, aliases, source run, and the
    commands that serve it, pinned to the version or following its aliases and stage.

    \b
    Example:
      lite-tracker models describe iris --version 2
    """
    from ..registry.uri import ModelsUri, model_version_for
    from ..serving import serve_commands

    client = read_client(store)
    mv = model_version_for(client, ModelsUri(name, version=version, latest=version is None))
    if as_json:
        print_json(dataclasses.asdict(mv))
        return
    for label, value in (("Model", mv.name), ("Version", mv.version), ("Stage", mv.current_stage),
                         ("Aliases", ", ".join(mv.aliases) or "-"), ("Status", mv.status),
                         ("Created", f"{timestamp(mv.creation_timestamp)} UTC"),
                         ("Run", mv.run_id or "-"), ("Source", mv.source or "-"),
                         ("Description", mv.description or "-")):
        click.echo(f"{label + ':':<13} {value}")
    pinned, *following = serve_commands(mv, client.tracking_uri).values()
    click.echo(f"\nServe this version (POST /invocations, GET /ping; add --port N):\n  {pinned}")
    if following:
        click.echo("Serve what its aliases and stage point to (restart the server after a promotion):")
        for command in following:
            click.echo(f"  {command}")


@models.command()
@click.argument("name")
@click.argument("version")
@click.argument("stage")
@click.option("--archive-existing-versions", is_flag=True,
              help="Move the other versions now in STAGE to Archived (Staging and Production only).")
@store_option
def transition(name: str, version: str, stage: str, archive_existing_versions: bool, store: str | None) -> None:
    """Move a model version to a stage: None, Staging, Production or Archived (any case).

    \b
    Example:
      lite-tracker models transition iris 2 Production --archive-existing-versions
    """
    mv = read_client(store).transition_model_version_stage(name, version, stage, archive_existing_versions)
    click.echo(f"Model {mv.name!r} version {mv.version} is now in stage {mv.current_stage}.")


@models.group()
def alias() -> None:
    """Point an alias (models:/NAME@ALIAS) at a version, or remove it.

    \b
    Example:
      lite-tracker models alias set iris champion 2
    """


@alias.command(name="set")
@click.argument("name")
@click.argument("alias_name", metavar="ALIAS")
@click.argument("version")
@store_option
def set_alias(name: str, alias_name: str, version: str, store: str | None) -> None:
    """Point ALIAS of model NAME at VERSION (moving it from another version if needed).

    \b
    Example:
      lite-tracker models alias set iris champion 2
    """
    read_client(store).set_registered_model_alias(name, alias_name, version)
    click.echo(f"models:/{name}@{alias_name} now points to version {version}.")


@alias.command(name="delete")
@click.argument("name")
@click.argument("alias_name", metavar="ALIAS")
@store_option
def delete_alias(name: str, alias_name: str, store: str | None) -> None:
    """Remove ALIAS from model NAME.

    \b
    Example:
      lite-tracker models alias delete iris champion
    """
    read_client(store).delete_registered_model_alias(name, alias_name)
    click.echo(f"Deleted alias {alias_name!r} of model {name!r}.")


@models.command()
@click.option("-m", "--model-uri", required=True, metavar="URI",
              help="models:/NAME/VERSION|STAGE|latest, models:/NAME@ALIAS or runs:/RUN_ID/PATH.")
@click.option("-p", "--port", type=int, default=5000, show_default=True, help="TCP port.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@store_option
def serve(model_uri: str, port: int, host: str, store: str | None) -> None:
    """Serve a logged or registered model over HTTP: POST /invocations (MLflow's scoring JSON), GET /ping.

    \b
    Example:
      lite-tracker models serve -m models:/iris@champion --port 5001
    """
    from ..serving import serve as run_server

    def ready() -> None:
        click.echo(f"Serving {model_uri} on http://{host}:{port} (POST /invocations, GET /ping); Ctrl-C stops.")

    run_server(model_uri, host, port, existing_store(store), on_ready=ready)

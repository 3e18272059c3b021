"""``lite-tracker models describe|serve``: the model registry from a shell."""

from __future__ import annotations

import dataclasses

import click

from ._common import existing_store, json_option, print_json, read_client, store_option, timestamp


@click.group()
def models() -> None:
    """Work with registered models.

    Describe a version, serve it over HTTP.

    \b
    Example:
      lite-tracker models describe iris --version 2
    """


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

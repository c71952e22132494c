"""The `analytics` command line: operations on a deployment or the local stack.

Every command reads the same settings as the Lambda functions (`DATABASE_URL`, ...); each
lives in a module of `entrypoints.commands` (one per command or group), assembled here.

Output: tables (or JSON with `--json`) on stdout; progress bars and errors on stderr. Logs go
to stderr only with `-v` (except `serve`, a server, which always logs). An expected failure
(an error of the product's tree: a missing setting, a database that does not answer, a bad
option) is one line; anything else is one line too, naming the error, and `-v` shows its
traceback.
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from entrypoints import logs
from entrypoints.commands import (
    demo,
    import_dynamodb,
    migration,
    operations,
    plans,
    query,
    replay,
    serve,
    sites,
)

app = typer.Typer(
    help="Privacy-first web analytics: operations and the local stack.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


# What the `local` extra installs: commands that need them (serve, demo, the local lake, the
# embedded database) say so in one line after a plain `pip install`.
LOCAL_EXTRA = frozenset({"duckdb", "pyarrow", "pgserver"})


class _Options:
    """The global options, as the callback saw them."""

    verbose = False


VerboseOption = Annotated[
    bool, typer.Option("--verbose", "-v", help="Log to stderr; show tracebacks.")
]


@app.callback()
def _global_options(verbose: VerboseOption = False) -> None:  # noqa: FBT002  # a typer flag
    _Options.verbose = verbose
    logs.configure(logging.INFO if verbose else logging.WARNING)


app.command()(operations.migrate)
app.command()(operations.partitions)
app.command("fold-stats")(operations.fold_stats)
app.command("rebuild-stats")(operations.rebuild_stats)
app.command()(serve.serve)
app.add_typer(sites.sites_app, name="sites")
app.add_typer(plans.plans_app, name="plans")
app.command()(query.query)
app.command()(demo.demo)
app.command("replay")(replay.replay_command)
import_dynamodb.register(app)
migration.register(app)


def main() -> None:
    """Console-script entry point: the app, with an unexpected error as one line (`-v`: its
    traceback)."""
    try:
        app()
    except ModuleNotFoundError as exc:
        if exc.name not in LOCAL_EXTRA:
            raise
        print(  # noqa: T201  # the command's own error line
            f"error: this command needs the local stack's packages ({exc.name} is missing): "
            "pip install 'analytics[local]'",
            file=sys.stderr,
        )
        sys.exit(1)
    except Exception as exc:
        if _Options.verbose:
            raise
        print(  # noqa: T201  # the command's own error line
            f"error: {type(exc).__name__}: {exc} (run with -v for the traceback)",
            file=sys.stderr,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()

"""The ``gpu-tda`` command line: one click group, one sub-command per contract entry.

Each sub-command lives beside the code it drives and is registered here, so ``gpu-tda --help``
lists the whole contract. Heavy imports happen inside the commands, keeping ``--help`` fast.
"""

from __future__ import annotations

import sys

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gpu-tda")
def main() -> None:
    """gpu-tda: streaming persistent homology on CPU and GPU."""


def _not_built(name: str, issue: str) -> click.Command:
    """A placeholder command that says clearly it is not built yet and exits non-zero."""

    @click.command(name=name, context_settings={"ignore_unknown_options": True})
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def command(args: tuple[str, ...]) -> None:
        click.echo(f"gpu-tda {name}: not built yet (see {issue})", err=True)
        sys.exit(2)

    command.help = f"(not built yet: {issue})"
    return command


from gpu_tda.streaming.cli import worker_command  # noqa: E402

main.add_command(worker_command)
from gpu_tda.streaming.broker import broker_command  # noqa: E402

main.add_command(broker_command)
main.add_command(_not_built("produce", "the streaming-worker issue"))
main.add_command(_not_built("tail", "the streaming-worker issue"))
from gpu_tda.flags.cli import flags  # noqa: E402

main.add_command(flags)
main.add_command(_not_built("demo", "the streaming-worker issue"))
main.add_command(_not_built("bench", "the engine issue"))


if __name__ == "__main__":
    main()

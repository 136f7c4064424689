"""The ``helpmail`` command line. One module per sub-command, registered in :data:`COMMANDS`.

Each sub-command module defines ``HELP: str``, ``add_arguments(parser)`` and
``run(args) -> int`` (the exit code). Errors derived from :class:`helpmail.HelpmailError` are
printed as one readable line and exit with status 2; nothing prints a traceback for a user error.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from helpmail.__about__ import __version__
from helpmail.errors import HelpmailError

#: sub-command name -> module (under helpmail.cli) implementing it
COMMANDS: dict[str, str] = {
    "demo": "demo",
    "import": "import_",
    "explain": "explain",
    "check": "check",
    "poll": "poll",
    "notify": "notify",
    "suspended": "suspended",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="helpmail", description="The email half of a helpdesk: mail in, tickets out, safely."
    )
    parser.add_argument("--version", action="version", version=f"helpmail {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(f"helpmail.cli.{module_name}")
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command)
        command.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args._run(args)
    except HelpmailError as error:
        # Several configuration problems come as one error: one line each, all of them.
        for problem in getattr(error, "errors", None) or (error,):
            print(f"helpmail: error: {problem}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("helpmail: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`helpmail demo | head`): stop quietly, like other Unix tools.
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    return code


if __name__ == "__main__":
    sys.exit(main())

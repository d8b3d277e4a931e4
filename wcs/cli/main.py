"""Command line: ``wcs serve``, ``wcs version``, and for people: ``wcs call``, ``wcs calls``,
``wcs streams`` (REST clients, :mod:`wcs.cli.calls`) and ``wcs conformance FILE.pcap``
(:mod:`wcs.cli.conformance`)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from wcs import __version__
from wcs.cli import calls as cli_calls
from wcs.cli import conformance as cli_conformance
from wcs.config import ConfigError, load_settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wcs", description="SIP calls as live streams")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the server")
    serve.add_argument("--config", help="TOML settings file (WCS_<NAME> variables override it)")
    serve.add_argument(
        "--print-config", action="store_true", help="print the effective settings and exit"
    )
    sub.add_parser("version", help="print the version")
    cli_calls.add_parsers(sub)
    cli_conformance.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is not None:
        code: int = handler(args)
        return code
    if args.command == "version":
        print(f"wcs {__version__}")
        return 0
    if args.command == "serve":
        try:
            settings = load_settings(args.config)
        except ConfigError as exc:
            print(f"wcs: {exc}", file=sys.stderr)
            return 2
        if args.print_config:
            print(json.dumps(settings.masked(), indent=2, sort_keys=True))
            return 0
        from wcs.server import run

        return run(settings)
    return 2

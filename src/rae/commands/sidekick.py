"""``rae sidekick [-c FILE]``: run the falcosidekick-compatible alert fan-out service."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c",
        "--config-file",
        metavar="FILE",
        help="YAML config (falcosidekick's keys); environment variables override it (SLACK_WEBHOOKURL…)",
    )


def main(args: argparse.Namespace) -> int:
    from prometheus_client import disable_created_metrics

    from rae.sidekick.service import Sidekick, load

    disable_created_metrics()  # falcosidekick (Go client) exports no *_created series

    config = load(args.config_file)
    debug = bool(config.get("debug")) or bool(os.environ.get("RAE_DEBUG"))
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.DEBUG if debug else logging.INFO,
        format="%(asctime)s [%(levelname)s] sidekick: %(message)s",
    )
    for noisy in ("aiohttp.access", "asyncio", "aiokafka", "nats"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    sidekick = Sidekick(config)
    asyncio.run(sidekick.run())
    return 0

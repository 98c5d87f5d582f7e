"""python -m devhost start APP_DIR [--port 7071] [--state-dir DIR] [--master-key-file FILE] [--watch-blobs ...]"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from devhost.blobwatch import BlobWatchConfig
from devhost.discovery import AppLoadError, load_settings
from devhost.host import HostOptions, run


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m devhost", description="Local host for v2-model Python Function Apps"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="host the app in APP_DIR")
    start.add_argument("app_dir", type=Path, nargs="?", default=Path("."))
    start.add_argument("--port", type=int, default=int(os.environ.get("DEVHOST_PORT", "7071")))
    start.add_argument("--bind", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    start.add_argument("--state-dir", type=Path, default=None, help="default: APP_DIR/.devhost")
    start.add_argument(
        "--master-key-file",
        type=Path,
        default=None,
        help="a file holding the master key (keys never go on the command line, where `ps` shows them); "
        "default: $FUNCTIONS_MASTER_KEY, else stored/generated",
    )
    start.add_argument(
        "--watch-blobs",
        default=None,
        metavar="CONNECTION_STRING_OR_SETTING",
        help="poll this storage account (Azurite) and announce new blobs as Microsoft.Storage.BlobCreated",
    )
    start.add_argument(
        "--watch-containers",
        default=os.environ.get("DEVHOST_WATCH_CONTAINERS", "raw"),
        help="comma-separated containers",
    )
    start.add_argument(
        "--blob-events-function",
        default=None,
        help="the Event Grid triggered function that receives the blob events",
    )
    start.add_argument(
        "--blob-events-optional",
        action="store_true",
        help="if the app has no such function yet, run without the watcher instead of refusing to start",
    )
    start.add_argument("--blob-poll-interval", type=float, default=1.0)
    start.add_argument("--activity-concurrency", type=int, default=16)
    start.add_argument("--log-level", default=os.environ.get("DEVHOST_LOG_LEVEL", "INFO"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="[%(asctime)s] %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("azure").setLevel(logging.WARNING)
    try:  # local.settings.json may hold the DEVHOST_* defaults below, as app settings do for func
        load_settings(args.app_dir.resolve())
    except AppLoadError as exc:
        print(f"devhost: cannot start: {exc}", file=sys.stderr)
        return 2
    args.watch_blobs = args.watch_blobs or os.environ.get("DEVHOST_WATCH_BLOBS")
    args.watch_containers = args.watch_containers or os.environ.get("DEVHOST_WATCH_CONTAINERS") or "raw"
    args.blob_events_function = (
        args.blob_events_function or os.environ.get("DEVHOST_BLOB_EVENTS_FUNCTION") or "on_blob_created"
    )
    watch = None
    if args.watch_blobs:
        watch = BlobWatchConfig(
            connection=args.watch_blobs,
            containers=[c.strip() for c in args.watch_containers.split(",") if c.strip()],
            function=args.blob_events_function,
            interval=args.blob_poll_interval,
            optional=args.blob_events_optional,
        )
    options = HostOptions(
        app_dir=args.app_dir,
        port=args.port,
        state_dir=args.state_dir,
        master_key=args.master_key_file.read_text(encoding="utf-8").strip() if args.master_key_file else None,
        bind=args.bind,
        blob_watch=watch,
        activity_concurrency=args.activity_concurrency,
    )
    return run(options)


if __name__ == "__main__":
    sys.exit(main())

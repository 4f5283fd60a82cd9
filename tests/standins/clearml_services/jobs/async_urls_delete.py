"""Stand-in for ``python3 -m jobs.async_urls_delete --fileserver-host URL`` (the async_delete service).

The real job deletes the files of deleted tasks from the fileserver. This one parses the same
arguments, logs a line, and idles until SIGTERM (exit 0). Self-contained: the compose file sets
PYTHONPATH=/opt/clearml/apiserver, so it imports nothing from the other stand-ins.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time


class _Stop(Exception):
    pass


def _stop(signum, _frame):
    raise _Stop(signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="async_urls_delete")
    parser.add_argument("--fileserver-host", default="http://localhost:8081")
    args, ignored = parser.parse_known_args(argv)
    # As PID 1 a signal without a handler is ignored: docker stop would wait 10 s for SIGKILL.
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        # Inside the try: a SIGTERM sent as soon as this line is read can arrive before print returns.
        print(f"async_urls_delete stand-in: fileserver {args.fileserver_host}"
              f"{' (ignoring ' + ' '.join(ignored) + ')' if ignored else ''}; idle until stopped", flush=True)
        while True:
            time.sleep(3600)
    except _Stop as ex:
        print(f"async_urls_delete stand-in: signal {ex.args[0]}, exiting", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

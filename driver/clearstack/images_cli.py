"""The `clearstack images build minio` verb: the MinIO server image, built from source on this controller.

The handler follows the dataset verbs' protocol (`args.handler(args)` returns the result for --json and
the text for people). Progress goes to stderr as it happens, --json or not (a build can take minutes;
stdout keeps only the result). An ImageBuildError ends the command with one line naming the fix, exit 1 (printed by cli._fail).
"""

from __future__ import annotations

import sys
import textwrap

from .cli_help import ExampleFormatter, examples
from .images import releases

EXAMPLE = f"""\
examples:
  clearstack images build minio                      # {releases.DEFAULT_RELEASE}, the default
  clearstack images build minio --release RELEASE.2025-09-07T16-13-09Z --json
  docker run --rm clearstack/minio:RELEASE.2025-09-07T16-13-09Z --version

known releases (driver/clearstack/images/releases.py):
""" + "\n".join(f"  {r.tag}  {r.module_version}  {r.note}" for r in releases.RELEASES) + """

Caches: $CLEARSTACK_CACHE_DIR (default /var/cache/clearstack): go/mod, go/cache, minio/<release>/minio.
See docs/minio.md."""


def add_parsers(verbs) -> None:
    images = verbs.add_parser("images", help="build the images clearstack deploys, here, without any registry",
                              description="Images clearstack makes on this controller itself, where no registry "
                                          "has them.", **examples("clearstack images build minio"))
    actions = images.add_subparsers(dest="images_action", metavar="ACTION", required=True)
    build = actions.add_parser(
        "build", help="build an image: `images build minio`", epilog=EXAMPLE,
        formatter_class=ExampleFormatter,
        description=textwrap.fill("Build the MinIO server from its Go module (github.com/minio/minio through the Go module "
                    "proxy) with this machine's Go toolchain (>= 1.24), stamped with the release as upstream's "
                    "Makefile does, and make the image clearstack/minio:<release> with `docker import`: the "
                    "static binary at /usr/bin/minio (the ENTRYPOINT: `docker run IMAGE server ...` runs "
                    "`minio server ...`), CA certificates and /tmp. Built once per release: a second run finds "
                    "the image (or the cached binary) and takes seconds.", width=100))
    build.add_argument("image", choices=["minio"], help="what to build (only minio today)")
    build.add_argument("--release", default=releases.DEFAULT_RELEASE, metavar="RELEASE.YYYY-MM-DDTHH-MM-SSZ",
                       help=f"MinIO release (default {releases.DEFAULT_RELEASE}, the CVE-2025-62506 fix)")
    build.add_argument("--json", action="store_true", help="print the result as JSON for machines")
    build.set_defaults(handler=_build, command="images build minio")


def _say(msg: str) -> None:
    print(f"minio: {msg}", file=sys.stderr, flush=True)


def _build(args) -> tuple[dict, str]:
    from .images import minio_build

    try:
        result = minio_build.build(args.release, say=_say)
    except KeyboardInterrupt:
        print("clearstack images build minio: stopped by SIGINT; the go build was stopped too (the caches "
              "keep what was done)", file=sys.stderr)
        raise SystemExit(130) from None
    how = ("already built: nothing to do" if result.image_cached else
           "imported from the cached binary" if result.cached else "built")
    text = "\n".join([
        f"{result.image} {result.image_id[:19]}: {how} in {result.seconds:.1f} s",
        f"  {result.module} (commit {result.commit[:12]}, {result.go or 'go ?'})",
        f"  binary: {result.binary or '(not cached any more)'} ({result.size / 1e6:.0f} MB)",
        f"  try: docker run --rm {result.image} --version",
    ])
    return result.as_dict(), text

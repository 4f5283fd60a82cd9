import logging
import os
import sys

from .cli import main

code = main()
logging.shutdown()
sys.stdout.flush()
sys.stderr.flush()
# Exit now: a forward or poll still waiting on a dead peer (bounded, but up to 30 s) must not hold
# up a stop. Nothing is lost: every write to the drives is an atomic rename.
os._exit(code)

import sys
from pathlib import Path

# tests/testhosts.py and tests/standins/ are shared by the integration tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

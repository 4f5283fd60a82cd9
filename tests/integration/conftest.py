import sys
from pathlib import Path

# tests/testhosts.py, tests/minio_server.py and tests/standins/ are shared by the integration tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pytest  # noqa: E402

from reports import publish  # noqa: E402

# The dataset tests' servers (real MinIO, the ClearML API stand-in) and CLI runner, for any module to use.
from dataset_servers import (api_server, clearml_conf, clearstack_conf, cli_env, dead_port, images,  # noqa: E402,F401
                             run, s3_server)


@pytest.fixture(scope="module")
def drift_table():
    """Rows {case, detected by check, repaired by up, 0 changed after}, published as a table at the end."""
    rows: list[dict] = []
    yield rows
    publish("drift-catalogue", "Drift catalogue (five-host lab, tests/integration/test_lab_stack.py)", rows)

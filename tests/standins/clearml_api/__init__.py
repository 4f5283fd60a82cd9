"""A ClearML API server stand-in for tests: the real clearml SDK runs its Dataset flows against it.

No real ClearML server can be had on the project's machines (see ENVIRONMENT.md), so this small
stdlib-only server implements the part of the apiserver the SDK uses for datasets: auth.login,
projects.*, tasks.*, events.add_batch, /debug.ping. Files never go through it: the SDK writes
dataset state and content to the dataset's output storage (a moto S3 bucket or a file:// folder).

    from tests.standins.clearml_api import start
    running, url = start(port=0, credentials={"tests": {"user_key": "K", "user_secret": "S"}})
    ...
    running.stop()

Run stand-alone: ``python -m tests.standins.clearml_api --port 0 [--state-file state.json]``
(credentials from CLEARML__secure__credentials__<name>__user_key / __user_secret).
"""

from .model import ApiError, Store
from .server import API_VERSION, SERVER_VERSION, ApiServer, Running, main, make_server, start

__all__ = ["API_VERSION", "SERVER_VERSION", "ApiError", "ApiServer", "Running", "Store", "main", "make_server",
           "start"]

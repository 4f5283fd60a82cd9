"""Test-only stand-ins for the services of the clearml-server docker-compose stack (stdlib only).

One module per service, each run as ``python3 -m clearml_services.<module>``: fileserver,
webserver, elasticsearch, mongod (+ mongosh, its healthcheck client). ``jobs`` is the
apiserver's async_urls_delete job. See README.md. Never imported by the product.
"""

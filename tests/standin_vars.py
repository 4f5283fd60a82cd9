"""Inventory variables that point the service roles at the stand-in images (test-only), with the
limits a test host can grant. The images come from tests/images/build-standin-image.sh."""

STANDIN_IMAGE = "clearstack-test/standins:local"

STANDIN_VARS = {
    "minio_image": STANDIN_IMAGE,
    "minio_lb_image": STANDIN_IMAGE,
    "minio_health_delay": 2,
    "clearml_server_image": "clearstack-test/clearml-server-standin:local",
    "clearml_server_elasticsearch_image": "clearstack-test/elasticsearch-standin:local",
    "clearml_server_mongo_image": "clearstack-test/mongo-standin:local",
    "clearml_server_redis_image": "clearstack-test/redis-standin:local",
    # Test hosts inherit hard limits of nofile 20000 and memlock 8 MiB (ENVIRONMENT.md).
    "clearml_server_elasticsearch_memlock": 4194304,
    "clearml_server_elasticsearch_nofile": 16384,
    # Probed every second while starting, then seldom: each probe is a `docker exec` that costs the
    # two-core CI machine CPU for as long as a lab lives.
    "clearml_server_healthcheck_interval": "30s",
    "clearml_server_healthcheck_start_interval": "1s",
    "clearml_server_healthcheck_start_period": "60s",
    "clearml_server_healthcheck_retries": 3,
    "clearml_server_wait_timeout": 180,
}

"""Prometheus metrics at ``/metrics``.

Correct with any number of processes changing the scheduler (server processes,
direct-mode ``runworker``s), because what describes tasks lives in the database:

- ``store``: Luigi's task counters (``luigi_task_started_total``, ``..._done_total``,
  ``..._failed_total``, ``..._disabled_total``, label ``family``), its
  ``luigi_task_execution_time_seconds`` gauge and our ``pipelines_task_duration_seconds``
  histogram per family, kept in the ``MetricValue`` table: one upsert after each
  status change commits (``scheduler.signals``).
- ``collect``: at scrape time, those rows plus gauges read from the scheduler's
  tables (tasks per status, workers alive, resources in use and their limits).
- ``rpc``: ``pipelines_rpc_duration_seconds{method}``, the latency of Luigi's protocol
  per method as this server process saw it (prometheus_client; with
  ``PROMETHEUS_MULTIPROC_DIR`` set, summed over every process sharing the directory).
"""

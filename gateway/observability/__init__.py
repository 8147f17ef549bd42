"""Operating the gateway: Prometheus metrics, readiness, graceful drain.

``metrics`` holds the process-wide counters and histograms the pipeline, outputs and
admission increment as things happen; ``collector`` computes live gauges (sessions, queues,
backlogs, TURN health) from one application at scrape time; ``live`` is the registry of
every transport's open sessions that both the collector and the drain read.
"""

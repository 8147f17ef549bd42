"""Several gateway nodes as one gateway, with their shared state on Redis (docs/deployment.md).

Picked by ``--redis-url``; without it nothing here is imported and the gateway is one
process with its in-memory directory, bus and admission. ``parts.py`` assembles a node:
``Cluster`` (registration, heartbeats, leases, the node view), ``RedisBus`` (results on
Redis Streams), ``ClusterDirectory`` (each conversation hosted whole on one node; others
redirect to it), ``ClusterAdmission`` (limits per node and in total) and the session
factory that sends participants where they belong.
"""

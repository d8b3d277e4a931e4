"""A cluster of wcs nodes on Redis (our extension; WCS has its CDN for this, docs/cluster.md).

Without ``cluster_redis_url`` none of this runs and Redis is never imported. With it, a thin
layer sits between REST and the local managers:

* :mod:`.registry` (sans-IO): what a node writes to Redis (its heartbeat and load, the calls
  and streams it owns) and which entries are stale (their node's heartbeat is gone);
* :mod:`.store` (the Redis edge, ``redis.asyncio``): heartbeat, re-registration after a Redis
  restart, the sweep that fails a dead node's calls and streams, cluster-wide name claims;
* :mod:`.rpc`: request/reply between nodes over Redis pub/sub with a timeout;
* :mod:`.rest_routing`: ``find``/``find_all`` merged over every node, actions routed to the
  owning node (503 when it does not answer), ``nodeId`` on every object;
* :mod:`.relay_wire` (sans-IO) and :mod:`.relay`: origin → edge relays. A viewer on node B of
  a stream whose origin is A makes B ask A (RPC) for the stream; A sends its RTP once over
  UDP to B, each datagram tagged with the relay's id and a MAC under a per-relay key that
  only travelled through Redis; B publishes it on its own hub, so its viewers get the same
  fan-out and keyframe cache as a local stream. Keyframe requests go back up, coalesced.
* :mod:`.node`: builds and runs all of it for :mod:`wcs.server`.
"""

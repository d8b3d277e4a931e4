"""Real third-party peers for the tests: Kamailio, baresip, nginx-rtmp.

Plain Python (no pytest import), so that the pytest fixtures in ``tests/fixtures`` and
scripts such as ``conformance/capture-traces.sh`` drive the same code. Every peer gets
its ports at run time, writes only under the run directory it is given and is stopped
by its own PID.
"""

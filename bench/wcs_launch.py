"""``python3 -m bench.wcs_launch serve``: the wcs server with bench-only options.

``BENCH_UVLOOP=1`` runs it on uvloop; ``BENCH_PATCHES=a,b`` applies ``bench.fastpath``
patches first. Only for measuring before the product adopts them (see bench/RESULTS.md).
"""

import asyncio
import os
import sys

from bench import fastpath
from wcs.cli import main

if os.environ.get("BENCH_UVLOOP") == "1":
    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
patches = [p for p in os.environ.get("BENCH_PATCHES", "").split(",") if p]
fastpath.apply(patches)
sys.exit(main())

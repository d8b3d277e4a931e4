"""``python3 -m bench.wcs_uvloop serve``: the wcs server on uvloop, without changing wcs.

Only for measuring until wcs.server.run() picks uvloop itself (see bench/RESULTS.md).
"""

import asyncio
import sys

import uvloop

from wcs.cli import main

asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
sys.exit(main())

"""HTTP/1.1 REST API and WebSocket server on asyncio (h11, wsproto); see ``wcs.rest.http``."""

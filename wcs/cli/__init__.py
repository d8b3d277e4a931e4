"""The ``wcs`` command: ``serve``, the REST clients for humans (``calls``, ``client``) and
``conformance FILE.pcap``. The entry point is :func:`main`."""

from .main import main

__all__ = ["main"]

"""Recording streams to files: file names, rotation, container choice, PyAV muxing off the
event loop, and the manager behind ``/rest-api/recorder/*``."""

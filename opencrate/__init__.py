"""OpenCrate: an open building-management data core on trio."""

__version__ = "0.1.0"

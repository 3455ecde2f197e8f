"""wire-ingest: parse news-wire items, merge story versions, emit IPTC ninjs events."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("wire-ingest")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+local"

__all__ = ["__version__"]

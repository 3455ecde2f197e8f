"""The pure core: bytes in, canonical events out. No Kafka, no asyncio, no clock, no I/O.

Both the Faust worker and ``wire-ingest replay`` call :mod:`workers.core.pipeline`, so a topic
replayed through either gives the same stories, keys and items.
"""

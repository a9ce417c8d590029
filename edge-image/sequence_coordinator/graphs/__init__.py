"""The execution graph engine: multi-leg orders worked server-side across venues.

`GraphEngine` (engine.py) is the entry point. It reaches venues only through
the `VenuePort` protocol (port.py) and keeps its state in a `GraphJournal`
(journal.py) so a restart resumes every graph without placing an order twice.
"""

from .engine import AdmissionError, GraphEngine, GraphError, GraphNotFound, GraphStateError
from .journal import GraphJournal
from .port import AccountSnapshot, Clock, VenuePort, WallClock

__all__ = [
    "AccountSnapshot",
    "AdmissionError",
    "Clock",
    "GraphEngine",
    "GraphError",
    "GraphJournal",
    "GraphNotFound",
    "GraphStateError",
    "VenuePort",
    "WallClock",
]

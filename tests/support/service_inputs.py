"""The plain values service-level tests pass to services: a fixed ``now`` and a caller."""

from __future__ import annotations

from datetime import datetime

from app.requestctx import Caller

# A TOTP step boundary (divisible by 30 s), far from any real clock.
NOW = datetime(2031, 5, 6, 7, 8, 0)
CALLER = Caller(ip="198.51.100.7")

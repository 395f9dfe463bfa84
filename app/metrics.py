"""The Prometheus metrics Tollgate exposes, and the one-line calls that count them.

A kernel module (it imports nothing of ours), so the gate and the credential features count
without importing the ops feature that serves ``/metrics``. Every metric has labels: under the
README's ``serve`` the multiprocess value class is chosen after this module is imported
(``app.ops.multiprocess``), and a labelled metric creates its values lazily, in the worker
that counts. Label values are closed sets (endpoint names, credential kinds, grant types):
never a raw path, an id or anything a caller typed.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Histogram

REQUEST_DURATION = Histogram(
    "tollgate_http_request_duration_seconds",
    "Time spent serving a request, by route (endpoint name), method and status class",
    ["endpoint", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
AUTHENTICATIONS = Counter(
    "tollgate_authentications_total",
    "Gate authentication outcomes: kind is the principal's credential kind on success, the "
    "header slot (bearer, api_key, master_key, session) on rejection, none when missing",
    ["kind", "outcome"],
)
RATE_LIMIT_REFUSALS = Counter(
    "tollgate_rate_limit_refusals_total",
    "Requests refused with 429 by a throttle or a credential's budget, by route",
    ["endpoint"],
)
TOKENS_ISSUED = Counter(
    "tollgate_oauth_tokens_issued_total",
    "OAuth token responses saved (first issuance or refresh rotation), by grant type",
    ["grant_type", "rotation"],
)
TOKENS_REVOKED = Counter(
    "tollgate_oauth_tokens_revoked_total",
    "RFC 7009 revocations of an OAuth token, by the kind of token presented",
    ["token_type"],
)
REFRESH_REUSE = Counter(
    "tollgate_refresh_token_reuse_total",
    "Rotated refresh tokens presented again outside the retry window (the lineage is revoked)",
    ["profile"],
)

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_STATUS_CLASSES = {n: f"{n}xx" for n in range(1, 6)}
# This process's histogram children by label values (bounded: endpoints x methods x classes).
_durations: dict[tuple[str, str, str], Any] = {}
_authentications: dict[tuple[str, str], Any] = {}


def observe_request(endpoint: str | None, method: str, status: int, seconds: float) -> None:
    """One served request; a 429 also counts as a rate-limit refusal."""
    route = endpoint or "unmatched"
    key = (route, method if method in _METHODS else "other", _STATUS_CLASSES[status // 100])
    child = _durations.get(key)
    if child is None:  # labels() takes a lock and builds the key on every call
        child = _durations[key] = REQUEST_DURATION.labels(*key)
    child.observe(seconds)
    if status == 429:
        RATE_LIMIT_REFUSALS.labels(route).inc()


def authentication(kind: str, outcome: str) -> None:
    """``outcome``: success, rejected (a credential was presented and refused) or missing."""
    child = _authentications.get((kind, outcome))
    if child is None:
        child = _authentications[(kind, outcome)] = AUTHENTICATIONS.labels(kind, outcome)
    child.inc()


def token_issued(grant_type: str, *, rotation: bool) -> None:
    TOKENS_ISSUED.labels(grant_type, "true" if rotation else "false").inc()


def token_revoked(token_type: str) -> None:
    TOKENS_REVOKED.labels(token_type).inc()


def refresh_reuse(profile: str) -> None:
    REFRESH_REUSE.labels(profile).inc()

"""IP restrictions: parsing and matching (pure functions, a fake resolver, no network), and
over HTTP: checked when a token is used, never when it is issued, changes apply at once
(T1), behind a proxy the client IP follows TRUSTED_PROXY_COUNT."""

from __future__ import annotations

import pytest

from app.secretkeys.restrictions import (
    CachingResolver,
    InvalidRestrictions,
    allows,
    as_text,
    parse,
)
from tests.support.secretkeys import call, issue


def nothing(hostname: str) -> list[str]:
    raise AssertionError(f"{hostname} should not have been resolved")


# --- parsing ------------------------------------------------------------------------------------


def test_parse_every_kind() -> None:
    entries = parse(
        "203.0.113.7, 10.0.0.0/8, 192.168.1.10-192.168.1.20, ci.example.com, "
        "2001:DB8::1, 2001:db8::/32, 2001:db8::1-2001:db8::ff, Build-01.Example.COM."
    )
    assert entries == [
        {"type": "ip", "value": "203.0.113.7"},
        {"type": "cidr", "value": "10.0.0.0/8"},
        {"type": "range", "value": "192.168.1.10-192.168.1.20"},
        {"type": "hostname", "value": "ci.example.com"},
        {"type": "ip", "value": "2001:db8::1"},
        {"type": "cidr", "value": "2001:db8::/32"},
        {"type": "range", "value": "2001:db8::1-2001:db8::ff"},
        {"type": "hostname", "value": "build-01.example.com"},
    ]


def test_parse_a_list_spaces_duplicates_and_empty_items() -> None:
    assert parse(["10.0.0.1", " 10.0.0.1 ", "10.0.0.2 - 10.0.0.3", "", "a.example,b.example"]) == [
        {"type": "ip", "value": "10.0.0.1"},
        {"type": "range", "value": "10.0.0.2-10.0.0.3"},
        {"type": "hostname", "value": "a.example"},
        {"type": "hostname", "value": "b.example"},
    ]
    assert parse("") == [] and parse(" , ") == [] and parse([]) == [] and parse(None) == []


def test_cidr_host_bits_are_cleared_and_mapped_addresses_are_ipv4() -> None:
    assert parse("192.168.1.77/24") == [{"type": "cidr", "value": "192.168.1.0/24"}]
    assert parse("::ffff:203.0.113.7") == [{"type": "ip", "value": "203.0.113.7"}]


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ("300.1.1.1", "not an IP address"),
        ("10.0.0.0/33", "not a CIDR block"),
        ("10.0.0.5-10.0.0.1", "first address is after its last"),
        ("10.0.0.1-2001:db8::1", "cannot mix IPv4 and IPv6"),
        ("10.0.0.1-banana", "end of the range"),
        ("*.example.com", "not an IP address"),
        ("exa mple.com", "not an IP address"),
        ("-bad.example.com", "not an IP address"),
        ("bad-.example.com", "not an IP address"),
        ("a" * 64 + ".example.com", "not an IP address"),
        ("http://example.com", "not a CIDR block"),
        ("1.2.3", "not an IP address"),
        ("2001:db8:::1", "not an IP address"),
    ],
)
def test_invalid_entries_are_named(entry: str, reason: str) -> None:
    with pytest.raises(InvalidRestrictions) as raised:
        parse(f"10.0.0.1, {entry}, example.com")
    assert raised.value.status == 422
    assert repr(entry) in raised.value.description
    [problem] = raised.value.extra["errors"]
    assert problem.startswith(repr(entry)) and reason in problem


def test_every_invalid_entry_is_named_at_once() -> None:
    with pytest.raises(InvalidRestrictions) as raised:
        parse("bad one, 10.0.0.1, 999.0.0.1")
    assert len(raised.value.extra["errors"]) == 2


def test_too_many_entries() -> None:
    with pytest.raises(InvalidRestrictions):
        parse([f"10.0.{n // 256}.{n % 256}" for n in range(201)])
    with pytest.raises(InvalidRestrictions):
        parse([42])  # type: ignore[list-item]


def test_as_text_round_trips() -> None:
    entries = parse("10.0.0.1,  10.0.0.0/8 ,host.example")
    assert as_text(entries) == "10.0.0.1, 10.0.0.0/8, host.example"
    assert parse(as_text(entries)) == entries


# --- matching -------------------------------------------------------------------------------------


def test_no_restrictions_allow_everyone() -> None:
    assert allows("203.0.113.7", [], nothing)
    assert allows(None, None, nothing)


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("203.0.113.7", True),  # address
        ("203.0.113.8", False),
        ("10.200.3.4", True),  # CIDR
        ("11.0.0.1", False),
        ("192.168.1.10", True),  # range, both ends included
        ("192.168.1.15", True),
        ("192.168.1.20", True),
        ("192.168.1.21", False),
        ("192.168.1.9", False),
        ("2001:db8::1", True),  # IPv6 address
        ("2001:0db8:0000::0001", True),  # the same, written long
        ("2001:db8::2", False),
        ("2001:db9::1", True),  # IPv6 CIDR
        ("2001:dba::1", False),
        ("fe80::10", True),  # IPv6 range
        ("fe80::21", False),
        ("::ffff:203.0.113.7", True),  # IPv4-mapped IPv6 is its IPv4 address
        ("::ffff:10.1.2.3", True),
        ("::ffff:203.0.113.8", False),
        ("not-an-ip", False),
        ("", False),
        (None, False),
    ],
)
def test_matching(ip: str | None, expected: bool) -> None:
    entries = parse(
        "203.0.113.7, 10.0.0.0/8, 192.168.1.10-192.168.1.20, 2001:db8::1, 2001:db9::/32, "
        "fe80::1-fe80::20"
    )
    assert allows(ip, entries, nothing) is expected


def test_an_ipv4_range_never_matches_ipv6() -> None:
    entries = parse("0.0.0.0-255.255.255.255")
    assert allows("8.8.8.8", entries, nothing)
    assert not allows("2001:db8::1", entries, nothing)


def test_hostnames_are_resolved_only_when_nothing_else_matches() -> None:
    asked: list[str] = []

    def resolve(name: str) -> list[str]:
        asked.append(name)
        return {"ci.example.com": ["198.51.100.4", "2001:db8::4"]}.get(name, [])

    entries = parse("10.0.0.0/8, ci.example.com")
    assert allows("10.1.1.1", entries, resolve) and asked == []
    assert allows("198.51.100.4", entries, resolve)
    assert allows("2001:db8::4", entries, resolve)
    assert allows("::ffff:198.51.100.4", entries, resolve)
    assert not allows("198.51.100.5", entries, resolve)
    assert set(asked) == {"ci.example.com"}


def test_the_resolver_caches_and_a_failure_matches_nothing() -> None:
    calls: list[str] = []
    clock = [0.0]
    answers = {"ci.example.com": ["198.51.100.4"]}

    def lookup(name: str) -> list[str]:
        calls.append(name)
        if name not in answers:
            raise OSError("NXDOMAIN")
        return answers[name]

    resolver = CachingResolver(lookup=lookup, ttl=60, clock=lambda: clock[0])
    assert resolver("ci.example.com") == ("198.51.100.4",)
    answers["ci.example.com"] = ["198.51.100.99"]
    clock[0] = 59
    assert resolver("ci.example.com") == ("198.51.100.4",)  # cached
    clock[0] = 61
    assert resolver("ci.example.com") == ("198.51.100.99",)  # looked up again
    assert resolver("gone.example.com") == ()
    assert resolver("gone.example.com") == ()
    assert calls == ["ci.example.com", "ci.example.com", "gone.example.com"]
    assert not allows("198.51.100.4", parse("gone.example.com"), resolver)


# --- over HTTP ------------------------------------------------------------------------------------

BLOCKED = "198.51.100.200"
OFFICE = "203.0.113.7"


def test_get_and_put_restrictions(app, ska, user, secret) -> None:
    empty = ska.restrictions(user)
    assert empty.status_code == 200
    assert empty.get_json() == {"raw": "", "entries": [], "updated_at": None}

    response = ska.restrict(
        user, "203.0.113.7, 10.0.0.0/8, 192.168.1.10-192.168.1.20, ci.example.com"
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["raw"] == "203.0.113.7, 10.0.0.0/8, 192.168.1.10-192.168.1.20, ci.example.com"
    assert [e["type"] for e in body["entries"]] == ["ip", "cidr", "range", "hostname"]
    assert body["updated_at"].endswith("Z")
    assert ska.restrictions(user).get_json() == body

    as_list = ska.restrict(user, ["2001:db8::/32", "203.0.113.7"])
    assert as_list.status_code == 200
    assert as_list.get_json()["raw"] == "2001:db8::/32, 203.0.113.7"


def test_an_invalid_entry_is_422_naming_it(app, ska, user, secret) -> None:
    assert ska.restrict(user, "10.0.0.1").status_code == 200
    response = ska.restrict(user, "10.0.0.1, 10.0.0.300, ci.example.com")
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"] == "invalid_ip_restrictions"
    assert "'10.0.0.300'" in body["message"]
    assert body["errors"][0].startswith("'10.0.0.300'")
    # Nothing changed.
    assert ska.restrictions(user).get_json()["raw"] == "10.0.0.1"
    assert ska.restrict(user, 42).status_code == 422
    assert (
        ska.client.put(
            f"/api/v1/admin/users/{user.id}/ip_restrictions", json=[], headers=ska.headers
        ).status_code
        == 400
    )


def test_restrictions_need_a_key(app, ska, user, make_user) -> None:
    assert ska.restrictions(user).status_code == 409
    response = ska.restrict(user, "10.0.0.1")
    assert response.status_code == 409
    assert response.get_json()["error"] == "no_secret_key"


def test_restrictions_are_checked_at_use_not_at_issue(app, client, ska, user, secret) -> None:
    assert ska.restrict(user, OFFICE).status_code == 200
    issued = issue(client, user.email, secret, ip=BLOCKED)
    assert issued.status_code == 200  # issuing from a blocked address works (000.24)
    token = issued.get_data(as_text=True)
    refused = call(client, token, ip=BLOCKED)
    assert refused.status_code == 401
    assert refused.get_json()["message"] == "IP address not allowed"
    assert call(client, token, ip=OFFICE).status_code == 200


def test_tightening_and_loosening_apply_to_issued_tokens(app, client, ska, user, jwt) -> None:
    assert call(client, jwt, ip=BLOCKED).status_code == 200
    assert ska.restrict(user, OFFICE).status_code == 200
    assert call(client, jwt, ip=BLOCKED).status_code == 401
    assert call(client, jwt, ip=OFFICE).status_code == 200
    assert ska.restrict(user, f"{OFFICE}, 198.51.100.0/24").status_code == 200
    assert call(client, jwt, ip=BLOCKED).status_code == 200
    assert ska.restrict(user, "").status_code == 200  # empty: no restriction
    assert call(client, jwt, ip="192.0.2.1").status_code == 200


def test_ipv6_range_and_cidr_over_http(app, client, ska, user, jwt) -> None:
    assert ska.restrict(user, "2001:db8::/48, 10.0.0.1-10.0.0.9").status_code == 200
    assert call(client, jwt, ip="2001:db8:0:1::5").status_code == 200
    assert call(client, jwt, ip="2001:db8:1::5").status_code == 401
    assert call(client, jwt, ip="10.0.0.5").status_code == 200
    assert call(client, jwt, ip="10.0.0.10").status_code == 401


def test_hostnames_through_the_fake_resolver(app, client, ska, user, jwt, dns) -> None:
    dns.names["ci.example.com"] = ["198.51.100.4", "2001:db8::4"]
    assert ska.restrict(user, "ci.example.com, unknown.example.com").status_code == 200
    assert call(client, jwt, ip="198.51.100.4").status_code == 200
    assert call(client, jwt, ip="2001:db8::4").status_code == 200
    assert call(client, jwt, ip="198.51.100.5").status_code == 401  # unknown.example: no match
    assert dns.asked.count("ci.example.com") == 1  # cached


def test_a_key_rotation_keeps_the_restrictions(app, client, ska, user, secret) -> None:
    from tests.support.secretkeys import key_from, latest_link, reveal, signed_in

    assert ska.restrict(user, OFFICE).status_code == 200
    assert ska.revoke(user).status_code == 200
    assert ska.add(user).status_code == 201
    assert ska.restrictions(user).get_json()["raw"] == OFFICE
    new_secret = key_from(reveal(signed_in(app, user), latest_link(app, user.email)))
    token = issue(client, user.email, new_secret).get_data(as_text=True)
    assert call(client, token, ip=BLOCKED).status_code == 401
    assert call(client, token, ip=OFFICE).status_code == 200


@pytest.mark.config(TRUSTED_PROXY_COUNT=1)
def test_behind_a_trusted_proxy_the_forwarded_address_counts(app, client, ska, user, jwt) -> None:
    assert ska.restrict(user, OFFICE).status_code == 200
    via_proxy = client.get(
        "/api/v1/tasks",
        headers={"Authorization": f"Bearer {jwt}", "X-Forwarded-For": OFFICE},
        environ_base={"REMOTE_ADDR": "10.9.9.9"},
    )
    assert via_proxy.status_code == 200
    spoofed = client.get(
        "/api/v1/tasks",
        headers={"Authorization": f"Bearer {jwt}", "X-Forwarded-For": f"{OFFICE}, {BLOCKED}"},
        environ_base={"REMOTE_ADDR": "10.9.9.9"},
    )
    assert spoofed.status_code == 401  # only the last hop (the proxy's view) is trusted


def test_without_a_trusted_proxy_forwarded_headers_are_ignored(app, client, ska, user, jwt):
    assert ska.restrict(user, OFFICE).status_code == 200
    response = client.get(
        "/api/v1/tasks",
        headers={"Authorization": f"Bearer {jwt}", "X-Forwarded-For": OFFICE},
        environ_base={"REMOTE_ADDR": BLOCKED},
    )
    assert response.status_code == 401


def test_restriction_changes_are_audited(app, ska, user, secret) -> None:
    from sqlalchemy import select

    from app.audit.models import AuditEvent
    from app.extensions import db

    assert ska.restrict(user, OFFICE).status_code == 200
    with app.app_context():
        event = db.session.scalar(
            select(AuditEvent).where(AuditEvent.event == "secret_key.restrictions_changed")
        )
    assert event.details["restrictions"] == OFFICE
    assert event.details["user_id"] == str(user.id)
    assert event.actor_user_id == ska.user.id

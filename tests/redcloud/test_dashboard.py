"""RedCloud's ``/dashboard`` (scans counted by status) and its licensed CSV export.

- ``GET /dashboard`` needs dashboard.view: admin, analyst and viewer yes, a plain member no.
- ``GET /dashboard/export`` needs dashboard.export *and* the tenant's plan feature
  ``reports.export``: without the feature 403 FEATURE_DISABLED (the tenant still echoed),
  with it a CSV; a viewer (no dashboard.export) is refused with forbidden either way.
- Counts are the caller's tenant's only.
"""

from __future__ import annotations

import pytest

from tests.support.http import api_error
from tests.support.tenantadmin import (
    DASHBOARD,
    EXPORT,
    api_key,
    bearer,
    error_of,
    make_scan,
    set_features,
    token_of,
)


def test_the_dashboard_counts_the_tenants_scans_by_status(
    app, client, admin, stranger, make_key
) -> None:
    for status in ("queued", "queued", "running", "completed", "failed", "failed"):
        make_scan(app, admin.family_id, status=status)
    make_scan(app, stranger.family_id, status="completed")
    response = client.get(DASHBOARD, headers=api_key(make_key(admin)))
    assert response.status_code == 200
    assert response.get_json() == {
        "scans": {
            "total": 6,
            "by_status": {"queued": 2, "running": 1, "completed": 1, "failed": 2},
        }
    }
    assert response.headers["X-Tenant-ID"] == str(admin.family_id)


def test_an_empty_dashboard_names_every_status(client, admin, make_key) -> None:
    body = client.get("/api/v1/dashboard", headers=api_key(make_key(admin))).get_json()
    assert body == {
        "scans": {
            "total": 0,
            "by_status": {"queued": 0, "running": 0, "completed": 0, "failed": 0},
        }
    }


@pytest.mark.parametrize(
    ("who", "status"), [("admin", 200), ("analyst", 200), ("viewer", 200), ("member", 403)]
)
def test_who_sees_the_dashboard(request, client, make_key, who, status) -> None:
    user = request.getfixturevalue(who)
    response = client.get(DASHBOARD, headers=bearer(token_of(client, user)))
    assert response.status_code == status
    assert response.headers["X-Tenant-ID"] == str(user.family_id)


@pytest.mark.parametrize("who", ["admin", "analyst"])
def test_the_export_needs_the_plans_feature(request, app, client, make_key, who) -> None:
    user = request.getfixturevalue(who)
    make_scan(app, user.family_id, status="completed")
    headers = api_key(make_key(user))
    refused = client.get(EXPORT, headers=headers)
    assert refused.status_code == 403
    assert api_error(refused) == {
        "error": "feature_disabled",
        "message": "This feature is not included in your plan",
    }
    assert refused.get_json()["code"] == "FEATURE_DISABLED"
    assert refused.headers["X-Tenant-ID"] == str(user.family_id)

    set_features(app, user.family_id, "reports.export")
    exported = client.get(EXPORT, headers=headers)
    assert exported.status_code == 200
    assert exported.mimetype == "text/csv"
    assert exported.headers["Content-Disposition"] == 'attachment; filename="dashboard.csv"'
    assert exported.get_data(as_text=True).splitlines() == [
        "status,count",
        "queued,0",
        "running,0",
        "completed,1",
        "failed,0",
        "total,1",
    ]


def test_another_feature_does_not_license_the_export(app, client, admin, make_key) -> None:
    set_features(app, admin.family_id, "ai")
    response = client.get(EXPORT, headers=api_key(make_key(admin)))
    assert response.status_code == 403
    assert error_of(response) == "feature_disabled"


def test_the_feature_of_another_tenant_does_not_count(
    app, client, admin, stranger, make_key
) -> None:
    set_features(app, stranger.family_id, "reports.export")
    assert client.get(EXPORT, headers=api_key(make_key(admin))).status_code == 403
    assert client.get(EXPORT, headers=api_key(make_key(stranger))).status_code == 200


@pytest.mark.parametrize("licensed", [False, True])
def test_a_viewer_never_exports(app, client, viewer, make_key, licensed) -> None:
    if licensed:
        set_features(app, viewer.family_id, "reports.export")
    response = client.get(EXPORT, headers=api_key(make_key(viewer)))
    assert response.status_code == 403
    assert error_of(response) == "forbidden"


def test_removing_the_feature_applies_to_the_next_request(app, client, admin, make_key) -> None:
    headers = api_key(make_key(admin))
    set_features(app, admin.family_id, "reports.export")
    assert client.get(EXPORT, headers=headers).status_code == 200
    set_features(app, admin.family_id)
    assert error_of(client.get(EXPORT, headers=headers)) == "feature_disabled"

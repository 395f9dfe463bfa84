"""When a partner leaves (deactivated, then purged by ``jobs work``), their partner tenant goes
with them: the organisations stay, without an owner, and every admin token issued for them
(shared credentials of the partner) is deleted."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import func, select

from app.extensions import db
from app.identity.models import Family
from app.partners.models import OrgAdminToken
from tests.support.partners import admin_token, bearer


def _jobs_work(app: Any) -> dict[str, Any]:
    result = app.test_cli_runner().invoke(args=["jobs", "work"])
    assert result.exit_code == 0, result.output
    answer: dict[str, Any] = json.loads(result.output)
    return answer


def test_a_purged_partner_leaves_organisations_without_owner_or_tokens(
    app, api, partner, partner_user, organization
) -> None:
    org_id = uuid.UUID(organization["organizationId"])
    token = admin_token(api, organization["ssoSecret"], organization["organizationId"])
    assert api.get("/api/v1/organizations", headers=bearer(token)).status_code == 200

    assert partner.client.delete("/api/v1/users/me", headers=partner.headers).status_code == 200
    assert _jobs_work(app)["users_purged"] == 1

    with app.app_context():
        assert db.session.get(Family, partner_user.family_id) is None
        org = db.session.get(Family, org_id)
        assert org is not None and org.partner_family_id is None
        assert db.session.scalar(select(func.count(OrgAdminToken.id))) == 0
    assert api.get("/api/v1/organizations", headers=bearer(token)).status_code == 401

"""HTTP for the authorization server, one module per noun: the authorization endpoint, the
token endpoints, discovery, dynamic registration, the OpenID Provider's userinfo and logout,
and the user's authorized applications. Views translate; Authlib (``oauth2.server``) and
``oauth2.services`` decide. Importing the package registers every route on ``bp``."""

from app.oauth2.views import (  # noqa: F401  (each module adds its routes to bp)
    applications,
    authorize,
    discovery,
    oidc,
    registration,
    token,
)
from app.oauth2.views.blueprint import JSON_ENDPOINTS, bp

__all__ = ["JSON_ENDPOINTS", "bp"]

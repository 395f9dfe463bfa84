from django.http import JsonResponse
from django.urls import include, path
from oauth2_provider import views as oauth2_views
from oauth2_provider.views.generic import ProtectedResourceView


def ping(request):
    return JsonResponse({"ok": True})


class MeView(ProtectedResourceView):
    """Protected GET: DOT validates the bearer token (a checksum lookup)."""

    def get(self, request, *args, **kwargs):
        user = request.resource_owner
        return JsonResponse({"sub": str(user.pk) if user else None})


dot_patterns = [
    path("token/", oauth2_views.TokenView.as_view(), name="token"),
    path("introspect/", oauth2_views.IntrospectTokenView.as_view(), name="introspect"),
]

urlpatterns = [
    path("ping", ping),
    path("api/me", MeView.as_view()),
    path("o/", include((dot_patterns, "oauth2_provider"), namespace="oauth2_provider")),
]

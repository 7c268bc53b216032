from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.routers import DefaultRouter

from leaderboard.accounts.throttles import LoginIPThrottle, LoginUsernameThrottle
from leaderboard.api import direct_uploads, teams, views

router = DefaultRouter()
router.register("benchmarks", views.BenchmarkViewSet, basename="api-benchmark")
router.register("submissions", views.SubmissionViewSet, basename="api-submission")
router.register("teams", teams.TeamViewSet, basename="api-team")
router.register("team-invitations", teams.InvitationViewSet, basename="api-team-invitation")

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Offline docs: assets from drf-spectacular-sidecar; the Swagger UI set-up script is a separate file (no inline JS).
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs-swagger"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api-schema", template_name="web/redoc.html"),
         name="api-docs-redoc"),
    # A password check: throttled per address and per account name (DRF's own view has no throttles).
    path("auth/token/", ObtainAuthToken.as_view(throttle_classes=[LoginIPThrottle, LoginUsernameThrottle]),
         name="api-token"),
    # Large uploads straight to an S3 store (before the router: its detail route would match these names).
    path("submissions/direct-upload/", direct_uploads.DirectUploadView.as_view(), name="api-direct-upload"),
    path("submissions/direct-upload/complete/", direct_uploads.DirectCompleteView.as_view(),
         name="api-direct-upload-complete"),
    path("leaderboard/", views.OverallLeaderboardView.as_view(), name="api-leaderboard"),
    path("leaderboard/<slug:slug>/", views.BenchmarkLeaderboardView.as_view(), name="api-benchmark-leaderboard"),
    *router.urls,
]

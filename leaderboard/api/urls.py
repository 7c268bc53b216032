from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView
from rest_framework.authtoken.views import obtain_auth_token
from rest_framework.routers import DefaultRouter

from leaderboard.api import views

router = DefaultRouter()
router.register("benchmarks", views.BenchmarkViewSet, basename="api-benchmark")
router.register("submissions", views.SubmissionViewSet, basename="api-submission")

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Offline docs: assets from drf-spectacular-sidecar; the Swagger UI set-up script is a separate file (no inline JS).
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs-swagger"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api-schema", template_name="web/redoc.html"),
         name="api-docs-redoc"),
    path("auth/token/", obtain_auth_token, name="api-token"),
    path("leaderboard/", views.OverallLeaderboardView.as_view(), name="api-leaderboard"),
    path("leaderboard/<slug:slug>/", views.BenchmarkLeaderboardView.as_view(), name="api-benchmark-leaderboard"),
    *router.urls,
]

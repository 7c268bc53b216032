"""The site's URLs plus one view that raises, to render the 500 page (tests/web/test_accounts_and_errors.py)."""
from django.urls import path

from leaderboard.urls import handler404, handler500, urlpatterns as site_urls  # noqa: F401 (handlers are read from here)


def boom(request):
    raise RuntimeError("boom")


urlpatterns = [path("boom/", boom), *site_urls]

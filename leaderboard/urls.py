from django.contrib import admin
from django.urls import include, path

from leaderboard.accounts.throttles import LoginIPThrottle, LoginUsernameThrottle, throttle_posts

urlpatterns = [
    # The admin's log-in is a password check like the others (ahead of admin.site.urls, which would answer it).
    path("admin/login/", throttle_posts(LoginIPThrottle, LoginUsernameThrottle)(admin.site.login), name="admin-login"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("leaderboard.api.urls")),
    path("accounts/", include("leaderboard.accounts.urls")),
    path("", include("leaderboard.web.urls")),
]

# JSON for /api/ paths, the usual pages elsewhere (leaderboard/api/errors.py).
handler400 = "leaderboard.api.errors.bad_request"
handler404 = "leaderboard.api.errors.page_not_found"
handler500 = "leaderboard.api.errors.server_error"

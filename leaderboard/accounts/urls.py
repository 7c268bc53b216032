from django.contrib.auth import views as auth_views
from django.urls import path

from leaderboard.accounts import views
from leaderboard.accounts.throttles import (
    LoginIPThrottle,
    LoginUsernameThrottle,
    PasswordResetAddressThrottle,
    PasswordResetIPThrottle,
    throttle_posts,
)

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("login/", throttle_posts(LoginIPThrottle, LoginUsernameThrottle)(auth_views.LoginView.as_view()), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("token/", views.api_token, name="api-token-page"),
    # Password reset: Django's views with our templates (the admin app ships templates under the default names).
    path("email/", views.email_page, name="account-email"),
    path("verify-email/<str:token>/", views.verify_email, name="verify-email"),
    # Throttled per client and per target address; mails verified addresses only (issue 24, Medium 4).
    path("password-reset/", throttle_posts(PasswordResetIPThrottle, PasswordResetAddressThrottle)(
        auth_views.PasswordResetView.as_view(
            form_class=views.VerifiedPasswordResetForm,
            template_name="accounts/password_reset_form.html",
            email_template_name="accounts/password_reset_email.txt",
            subject_template_name="accounts/password_reset_subject.txt",
        )), name="password_reset"),
    path("password-reset/sent/", auth_views.PasswordResetDoneView.as_view(
        template_name="accounts/password_reset_done.html"), name="password_reset_done"),
    path("password-reset/<uidb64>/<token>/", auth_views.PasswordResetConfirmView.as_view(
        template_name="accounts/password_reset_confirm.html"), name="password_reset_confirm"),
    path("password-reset/done/", auth_views.PasswordResetCompleteView.as_view(
        template_name="accounts/password_reset_complete.html"), name="password_reset_complete"),
]

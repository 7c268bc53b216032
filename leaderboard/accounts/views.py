"""Sign up, the email page (verification) and the API token page (log in/out are Django's own views)."""
from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordResetForm, UserCreationForm
from django.contrib.auth.validators import ASCIIUsernameValidator
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from rest_framework.authtoken.models import Token

from leaderboard.accounts import verification
from leaderboard.accounts.throttles import TokenCreationThrottle, VerifyEmailThrottle, throttle_posts

DUPLICATE_ADDRESS = "This address is already used by another account."


class SignUpForm(UserCreationForm):
    """Usernames are ASCII letters, digits and @.+-_ only (Django's ``ASCIIUsernameValidator``): one script, so no
    homoglyph (a Cyrillic "а" in "аlice", a fullwidth "ｂob") can pass for another user's name (issue 24, Low)."""

    email = forms.EmailField(required=False, help_text="Optional: once you confirm it (we send a link), we email you "
                                                       "when an evaluation ends, and it lets you reset a forgotten password.")

    class Meta(UserCreationForm.Meta):
        fields = ("username", "email")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["username"].validators.append(ASCIIUsernameValidator())
        self.fields["username"].help_text = "Letters a-z and A-Z, digits and @ . + - _ only; 150 characters at most."

    def clean_email(self) -> str:
        """One account per address, case ignored (the database's unique index is the last word, for races)."""
        email = self.cleaned_data["email"].strip()
        if email and User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(DUPLICATE_ADDRESS)
        return email


class VerifiedPasswordResetForm(PasswordResetForm):
    """Django's reset form, mailing only accounts whose address is verified (the page never says which)."""

    def get_users(self, email: str):
        return (user for user in super().get_users(email) if verification.is_verified(user))


def _site_url(request: HttpRequest) -> str:
    return request.build_absolute_uri("/")


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                user = form.save()
        except IntegrityError:  # the same address signed up at the same moment
            form.add_error("email", DUPLICATE_ADDRESS)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, f"Welcome, {user.username}. You can submit now.")
            if verification.send_verification(user, _site_url(request)):
                messages.info(request, "We sent a link to your address: follow it to receive emails from the site.")
            return redirect("submit")
    return render(request, "registration/signup.html", {"form": form}, status=400 if form.errors else 200)


@require_http_methods(["GET"])
def verify_email(request: HttpRequest, token: str) -> HttpResponse:
    """The link from the confirmation mail (no log-in needed: the token names the user and the address)."""
    try:
        user = verification.verify(token)
    except verification.InvalidLink as exc:
        return render(request, "registration/email.html", {"problem": str(exc)}, status=400)
    return render(request, "registration/email.html", {"confirmed": user.email})


@login_required
@require_http_methods(["GET", "POST"])
@throttle_posts(VerifyEmailThrottle)
def email_page(request: HttpRequest) -> HttpResponse:
    """The account's address and whether it is confirmed; POST sends the confirmation link again."""
    if request.method == "POST":
        if verification.send_verification(request.user, _site_url(request)):
            messages.success(request, f"A confirmation link is on its way to {request.user.email}.")
        return redirect("account-email")
    return render(request, "registration/email.html", {
        "address": request.user.email, "verified": verification.is_verified(request.user)})


@never_cache  # the page shows a live credential: no browser or proxy may keep it (Cache-Control: no-store)
@login_required
@require_http_methods(["GET", "POST"])
@throttle_posts(TokenCreationThrottle)
def api_token(request: HttpRequest) -> HttpResponse:
    """Show the user's API token; POST creates it or replaces it (the old one stops working at once)."""
    token = Token.objects.filter(user=request.user).first()
    if request.method == "POST":
        replaced = token is not None
        if replaced:
            token.delete()
        token = Token.objects.create(user=request.user)
        messages.success(
            request,
            "New API token created; the previous one no longer works." if replaced else "API token created.",
        )
        return redirect("api-token-page")
    return render(request, "registration/token.html", {"token": token})

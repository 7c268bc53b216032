"""Sign up and the API token page (log in/out are Django's own views)."""
from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import UserCreationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods
from rest_framework.authtoken.models import Token

from leaderboard.accounts.throttles import TokenCreationThrottle, throttle_posts


class SignUpForm(UserCreationForm):
    email = forms.EmailField(required=False, help_text="Optional: we email you when an evaluation ends, and it lets you reset a forgotten password.")

    class Meta(UserCreationForm.Meta):
        fields = ("username", "email")


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome, {user.username}. You can submit now.")
        return redirect("submit")
    return render(request, "registration/signup.html", {"form": form}, status=400 if form.errors else 200)


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

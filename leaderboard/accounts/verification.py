"""Email addresses are verified before the site sends them anything but the verification mail (issue 24, Medium 4).

An unverified address let anyone have the site mail chosen text (a method name) to any address, and password
resets to addresses nobody had proven. The link is a signed, timed token (``django.core.signing``) naming the
user and the address it was sent to, so it stops working when the address changes; the verification mail itself
holds fixed text and the link only.
"""
from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core import signing
from django.core.mail import send_mail
from django.urls import reverse

from leaderboard.accounts.models import VerifiedEmail

SALT = "ehps.accounts.verify-email"


class InvalidLink(Exception):
    """A verification token that is forged, expired, or for an address the account no longer has."""


def normalized(address: str) -> str:
    return address.strip().lower()


def is_verified(user: AbstractBaseUser) -> bool:
    """True when the user's current address is the one they proved."""
    address = normalized(getattr(user, "email", "") or "")
    return bool(address) and VerifiedEmail.objects.filter(user_id=user.pk, address=address).exists()


def may_email(user: AbstractBaseUser) -> bool:
    """Anything but the verification mail goes out only to a verified address."""
    return is_verified(user)


def verification_token(user: AbstractBaseUser) -> str:
    return signing.dumps({"u": user.pk, "e": normalized(user.email)}, salt=SALT, compress=True)


def send_verification(user: AbstractBaseUser, site_url: str) -> bool:
    """Mail the link (under ``site_url``, the request's own address) to the user's address; False when there is
    none. Fixed text: no user-chosen words in it."""
    if not user.email:
        return False
    link = site_url.rstrip("/") + reverse("verify-email", kwargs={"token": verification_token(user)})
    hours = settings.EMAIL_VERIFICATION_MAX_AGE_S // 3600
    body = ("Someone (hopefully you) gave this address to an EHPS Leaderboard account.\n\n"
            f"Confirm it here (the link works for {hours} hours):\n{link}\n\n"
            "Until it is confirmed the site sends it nothing else. If this was not you, ignore this email.\n")
    send_mail("[EHPS Leaderboard] Confirm your email address", body, settings.DEFAULT_FROM_EMAIL, [user.email])
    return True


def verify(token: str):
    """Mark the address the token names as verified for its user; the user. InvalidLink if it cannot be used."""
    from django.contrib.auth import get_user_model

    try:
        data = signing.loads(token, salt=SALT, max_age=settings.EMAIL_VERIFICATION_MAX_AGE_S)
        user = get_user_model().objects.get(pk=data["u"])
    except (signing.BadSignature, KeyError, TypeError, get_user_model().DoesNotExist):
        raise InvalidLink("This confirmation link is not valid (or has expired).") from None
    if not user.email or normalized(user.email) != data["e"]:
        raise InvalidLink("This confirmation link is for an address the account no longer uses.")
    confirm_address(user)
    return user


def confirm_address(user: AbstractBaseUser) -> None:
    """Record the user's current address as verified (the link, or a host vouching for it in a shell)."""
    VerifiedEmail.objects.update_or_create(user=user, defaults={"address": normalized(user.email)})

"""Which email address each account has proven it receives (issue 24, Medium 4)."""
from __future__ import annotations

from django.conf import settings
from django.db import models


class VerifiedEmail(models.Model):
    """The address a user proved by following a signed link. Valid while it still equals ``user.email``
    (case ignored): changing the address makes it unverified until the new one is proven."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="verified_email")
    address = models.EmailField()  # lower-cased
    verified_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.user} <{self.address}>"

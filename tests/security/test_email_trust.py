"""Issue 24, Medium 4: password reset throttled per client and per target address; one account per address (case
ignored); nothing but the verification mail goes to an address before its owner has followed the signed link."""
from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.db import IntegrityError, transaction
from django.test import Client

from leaderboard.accounts.verification import is_verified, verification_token
from leaderboard.submissions.models import Status, Submission
from leaderboard.submissions.notifications import send_final_notification

PASSWORD = "a-long-Passphrase-42"
RATES = {"anon": "1000/min", "user": "1000/min", "login": "1000/min", "login_username": "1000/hour", "token": "9/hour",
         "password_reset": "4/hour", "password_reset_address": "2/hour", "verify_email": "2/hour"}


@pytest.fixture
def small_rates(throttle_rates):
    throttle_rates(RATES)


def sign_up(username: str, email: str, client: Client | None = None):
    return (client or Client()).post("/accounts/signup/", {"username": username, "email": email,
                                                            "password1": PASSWORD, "password2": PASSWORD})


def verification_link(message) -> str:
    return re.search(r"http://testserver(/accounts/verify-email/\S+/)", message.body).group(1)


def verified_user(username: str, email: str) -> User:
    assert sign_up(username, email).status_code == 302
    user = User.objects.get(username=username)
    assert Client().get(verification_link(mail.outbox[-1])).status_code == 200
    return user


def test_a_duplicate_address_is_refused_whatever_its_case(db):
    assert sign_up("nia", "Nia@Example.org").status_code == 302
    response = sign_up("mallory", "nia@example.ORG")
    assert response.status_code == 400 and "already used by another account" in response.content.decode()
    assert not User.objects.filter(username="mallory").exists()
    # The database refuses it too (admin, shell, a race between two sign-ups).
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create_user("eve", email="NIA@example.org")
    User.objects.create_user("noaddress-1")  # many accounts without an address are fine
    User.objects.create_user("noaddress-2")


def test_sign_up_sends_only_a_verification_mail_and_the_link_verifies(db):
    assert sign_up("nia", "nia@example.org").status_code == 302
    user = User.objects.get(username="nia")
    assert not is_verified(user)
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["nia@example.org"]
    assert "nia" not in mail.outbox[0].subject  # fixed text: nothing the sign-up chose but the link
    assert Client().get(verification_link(mail.outbox[0])).status_code == 200
    assert is_verified(user)


def test_a_link_for_an_old_address_or_a_forged_one_verifies_nothing(db):
    sign_up("nia", "nia@example.org")
    user = User.objects.get(username="nia")
    old_link = verification_link(mail.outbox[0])
    user.email = "other@example.org"
    user.save()
    assert Client().get(old_link).status_code == 400 and not is_verified(user)
    token = verification_token(user)
    assert Client().get(f"/accounts/verify-email/{token[:-2]}xx/").status_code == 400 and not is_verified(user)
    assert Client().get(f"/accounts/verify-email/{token}/").status_code == 200 and is_verified(user)


def test_notifications_wait_for_a_verified_address(db, django_capture_on_commit_callbacks):
    sign_up("nia", "nia@example.org")
    user = User.objects.get(username="nia")
    submission = Submission.objects.create(owner=user, method_name="Hello <a href=x>click</a>", status=Status.FAILED)
    mail.outbox.clear()
    assert send_final_notification(submission) is False and mail.outbox == []  # chosen text to an unproven address
    Client().get(f"/accounts/verify-email/{verification_token(user)}/")
    assert send_final_notification(submission) is True and len(mail.outbox) == 1


def test_password_reset_goes_to_verified_addresses_only(db):
    sign_up("nia", "nia@example.org")
    mail.outbox.clear()
    Client().post("/accounts/password-reset/", {"email": "nia@example.org"})
    assert mail.outbox == []
    verified_user("oli", "oli@example.org")
    mail.outbox.clear()
    assert Client().post("/accounts/password-reset/", {"email": "OLI@example.org"}).status_code == 302
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["oli@example.org"]


def test_password_reset_is_throttled_per_client(db, small_rates):
    codes = [Client().post("/accounts/password-reset/", {"email": f"x{i}@example.org"}).status_code for i in range(6)]
    assert codes == [302] * 4 + [429] * 2


def test_password_reset_is_throttled_per_target_address(db, small_rates):
    verified_user("oli", "oli@example.org")
    mail.outbox.clear()
    codes = [Client(REMOTE_ADDR=f"10.0.0.{i}").post("/accounts/password-reset/", {"email": "Oli@Example.org"}).status_code
             for i in range(4)]
    assert codes == [302] * 2 + [429] * 2
    assert len(mail.outbox) == 2  # 25 requests sent 50 mails before


def test_the_verification_mail_can_be_sent_again_a_few_times(db, small_rates):
    sign_up("nia", "nia@example.org")
    client = Client()
    client.force_login(User.objects.get(username="nia"))
    assert "not verified" in client.get("/accounts/email/").content.decode()
    codes = [client.post("/accounts/email/").status_code for _ in range(3)]
    assert codes == [302, 302, 429] and len(mail.outbox) == 3

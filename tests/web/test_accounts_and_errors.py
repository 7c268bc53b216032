"""Password reset through Django's views, the signup form, and the site-styled 404/500 pages."""
from __future__ import annotations

import re

from django.contrib.auth.models import User
from django.core import mail
from django.test import Client, override_settings

from leaderboard.accounts.verification import confirm_address


def test_password_reset_by_email_end_to_end(alice):
    alice.email = "alice@example.org"
    alice.save()
    confirm_address(alice)  # resets go to verified addresses only (tests/security/test_email_trust.py)
    client = Client()
    login_page = client.get("/accounts/login/").content.decode()
    assert 'href="/accounts/password-reset/"' in login_page
    form = client.get("/accounts/password-reset/")
    assert form.status_code == 200 and 'class="topbar"' in form.content.decode()  # our layout, not the admin's
    response = client.post("/accounts/password-reset/", {"email": "alice@example.org"}, follow=True)
    assert "Check your email" in response.content.decode()
    assert len(mail.outbox) == 1 and mail.outbox[0].subject == "[EHPS Leaderboard] Reset your password"
    link = re.search(r"http://testserver(/accounts/password-reset/\S+/)", mail.outbox[0].body).group(1)
    page = client.get(link, follow=True)  # Django redirects to a URL without the token in it
    assert "Choose a new password" in page.content.decode() and 'name="new_password1"' in page.content.decode()
    done = client.post(page.redirect_chain[-1][0], {"new_password1": "a-new-Passphrase-7", "new_password2": "a-new-Passphrase-7"}, follow=True)
    assert "Password changed" in done.content.decode()
    assert Client().login(username="alice", password="a-new-Passphrase-7")


def test_password_reset_of_an_unknown_address_reveals_nothing(db):
    response = Client().post("/accounts/password-reset/", {"email": "nobody@example.org"}, follow=True)
    assert "Check your email" in response.content.decode() and mail.outbox == []


def test_signup_form_uses_the_site_styles(db):
    html = Client().get("/accounts/signup/").content.decode()
    assert '<p class="help"><ul>' not in html  # the password rules are a list, not a list inside a paragraph
    assert re.search(r'<div class="help" id="id_password1_helptext"><ul>', html)
    for name in ("username", "email", "password1", "password2"):
        assert f'name="{name}"' in html
    assert 'class="panel form"' in html


def test_signup_then_logged_in(db):
    client = Client()
    response = client.post("/accounts/signup/", {"username": "nia", "email": "nia@example.org",
                                                 "password1": "a-long-Passphrase-42", "password2": "a-long-Passphrase-42"})
    assert response.status_code == 302 and User.objects.get(username="nia").email == "nia@example.org"


def test_404_page_is_in_the_site_style(db):
    response = Client().get("/no/such/page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert 'class="topbar"' in html and "Page not found" in html and "/no/such/page/" in html


def test_api_404_stays_json(db):
    response = Client().get("/api/v1/no-such-endpoint/")
    assert response.status_code == 404 and response["Content-Type"].startswith("application/json")


@override_settings(ROOT_URLCONF="tests.web.boom_urls", DEBUG=False)
def test_500_page_is_in_the_site_style(db):
    response = Client(raise_request_exception=False).get("/boom/")
    assert response.status_code == 500
    html = response.content.decode()
    assert 'class="topbar"' in html and "Something went wrong on our side" in html and "boom" not in html

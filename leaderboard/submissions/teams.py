"""Self-service teams: create, invite (by username or by the team's link), accept or decline, leave; the owner (or
staff) removes members, transfers ownership and replaces the link. The web pages and the API both call these.

Submissions made for a team share its quota (``quotas``) and its board row (``leaderboard.entrant_expression``).
An invitation is emailed only to a verified address (``accounts.verification.may_email``), as every other mail.
"""
from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import IntegrityError, transaction

from leaderboard.submissions.actions import control_character_problem
from leaderboard.submissions.models import Team, TeamInvitation, new_invite_token
from leaderboard.submissions.visibility import is_staff


class TeamError(ValueError):
    """A team action that cannot be done, written for the user (answered 400, or ``status_code``)."""

    status_code = 400

    def __init__(self, message: str, field: str | None = None, status_code: int | None = None) -> None:
        super().__init__(message)
        self.field = field
        if status_code is not None:
            self.status_code = status_code


def can_manage_team(user, team: Team) -> bool:
    """The owner and staff manage members; other members may only leave."""
    return is_staff(user) or (user is not None and user.is_authenticated and team.owner_id == user.pk)


def _require_manager(actor, team: Team) -> None:
    if not can_manage_team(actor, team):
        raise TeamError(f"Only the owner of team {team.name!r} (or staff) can do this.", status_code=403)


def clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise TeamError("Give the team a name.", field="name")
    if len(name) > Team._meta.get_field("name").max_length:
        raise TeamError(f"The team name is longer than {Team._meta.get_field('name').max_length} characters.", field="name")
    problem = control_character_problem(name, "team name")
    if problem is not None:
        raise TeamError(problem, field="name")
    if Team.objects.filter(name__iexact=name).exists():
        raise TeamError(f"A team named {name!r} exists already; choose another name.", field="name")
    return name


def create_team(user, name: str) -> Team:
    """A new team owned by ``user``, its only member."""
    name = clean_name(name)
    try:
        with transaction.atomic():
            team = Team.objects.create(name=name, owner=user)
            team.members.add(user)
    except IntegrityError:  # a parallel request took the name
        raise TeamError(f"A team named {name!r} exists already; choose another name.", field="name") from None
    return team


def invite(actor, team: Team, username: str, site_url: str = "") -> TeamInvitation:
    """Invite a user by username (the owner or staff); the invitee accepts or declines on their teams page."""
    _require_manager(actor, team)
    user = get_user_model().objects.filter(username=(username or "").strip()).first()
    if user is None:
        raise TeamError(f"No user named {username!r}.", field="username")
    if team.members.filter(pk=user.pk).exists():
        raise TeamError(f"{user.username} is already a member of {team.name}.", field="username")
    invitation, _ = TeamInvitation.objects.get_or_create(team=team, user=user, defaults={"invited_by": actor})
    transaction.on_commit(lambda: notify_invitation(invitation, site_url))
    return invitation


def notify_invitation(invitation: TeamInvitation, site_url: str = "") -> bool:
    """Email the invitee, only at an address they verified; False when nothing was sent."""
    from django.urls import reverse

    from leaderboard.accounts.verification import may_email

    user = invitation.user
    if not settings.EMAIL_NOTIFICATIONS or not may_email(user):
        return False
    link = (site_url or settings.SITE_URL).rstrip("/") + reverse("teams")
    body = (f"You were invited to join the team {invitation.team.name} on the EHPS Leaderboard.\n\n"
            f"Accept or decline it here (signed in): {link}\n\n"
            "You get this email because your address is confirmed on the EHPS Leaderboard.\n")
    send_mail(f"[EHPS Leaderboard] Invitation to team {invitation.team.name}", body, settings.DEFAULT_FROM_EMAIL,
              [user.email])
    return True


def _join(user, team: Team) -> None:
    with transaction.atomic():
        team.members.add(user)
        TeamInvitation.objects.filter(team=team, user=user).delete()


def accept(user, invitation: TeamInvitation) -> Team:
    if invitation.user_id != user.pk:
        raise TeamError("This invitation is for another user.", status_code=404)
    _join(user, invitation.team)
    return invitation.team


def decline(user, invitation: TeamInvitation) -> None:
    if invitation.user_id != user.pk and not can_manage_team(user, invitation.team):
        raise TeamError("This invitation is for another user.", status_code=404)
    invitation.delete()


def team_for_token(token: str) -> Team:
    team = Team.objects.filter(invite_token=token).first() if token else None
    if team is None:
        raise TeamError("This team link is not valid (the owner may have replaced it).", status_code=404)
    return team


def join_by_link(user, token: str) -> Team:
    team = team_for_token(token)
    if team.members.filter(pk=user.pk).exists():
        raise TeamError(f"You are already a member of {team.name}.")
    _join(user, team)
    return team


def leave(user, team: Team) -> None:
    """A member leaves; the owner hands the team to another member first. Their past submissions stay the team's."""
    if not team.members.filter(pk=user.pk).exists():
        raise TeamError(f"You are not a member of {team.name}.", status_code=404)
    if team.owner_id == user.pk:
        raise TeamError("You own this team: transfer it to another member before leaving.")
    team.members.remove(user)


def _managed_member(actor, team: Team, username: str, why: str = ""):
    """The member named ``username`` of a team ``actor`` manages; TeamError otherwise."""
    _require_manager(actor, team)
    member = team.members.filter(username=username).first()
    if member is None:
        raise TeamError(f"{username!r} is not a member of {team.name}{why}.", field="username")
    return member


def remove_member(actor, team: Team, username: str) -> None:
    """Remove a member and replace the join link: the link is reusable, so the old one would let them back in."""
    member = _managed_member(actor, team, username)
    if member.pk == team.owner_id:
        raise TeamError("The owner cannot be removed; transfer the team first.", field="username")
    with transaction.atomic():
        team.members.remove(member)
        reset_link(actor, team)


def transfer(actor, team: Team, username: str) -> None:
    """Make another member the owner."""
    team.owner = _managed_member(actor, team, username, ": only a member can own it")
    team.save(update_fields=["owner"])


def reset_link(actor, team: Team) -> str:
    """A new join link; the old one stops working."""
    _require_manager(actor, team)
    team.invite_token = new_invite_token()
    team.save(update_fields=["invite_token"])
    return team.invite_token

"""Team pages: your teams and invitations, a team's members, and the forms that call ``submissions.teams``."""
from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from leaderboard.submissions import teams
from leaderboard.submissions.models import Team, TeamInvitation
from leaderboard.submissions.teams import TeamError, can_manage_team
from leaderboard.submissions.visibility import is_staff


def visible_team(user, pk: int) -> Team:
    """A team its members and staff may see; 404 for anyone else (its members' names are theirs)."""
    team = get_object_or_404(Team.objects.select_related("owner"), pk=pk)
    if not is_staff(user) and not team.members.filter(pk=user.pk).exists():
        raise Http404("No such team.")
    return team


def join_link(request: HttpRequest, team: Team) -> str:
    return request.build_absolute_uri(reverse("team-join", args=[team.invite_token]))


@login_required
def team_list(request: HttpRequest) -> HttpResponse:
    """Your teams, invitations waiting for you, and a form to create a team."""
    error = ""
    if request.method == "POST":
        try:
            team = teams.create_team(request.user, request.POST.get("name", ""))
        except TeamError as exc:
            error = str(exc)
        else:
            messages.success(request, f"Team {team.name} created. Invite members by username or send them the link.")
            return redirect(team)
    context = {
        "teams": request.user.teams.select_related("owner").order_by("name"),
        "invitations": TeamInvitation.objects.filter(user=request.user).select_related("team", "invited_by"),
        "error": error, "name": request.POST.get("name", ""),
    }
    return render(request, "web/teams.html", context, status=400 if error else 200)


@login_required
def team_detail(request: HttpRequest, pk: int) -> HttpResponse:
    team = visible_team(request.user, pk)
    manager = can_manage_team(request.user, team)
    return render(request, "web/team.html", {
        "team": team, "members": team.members.order_by("username"), "can_manage": manager,
        "is_member": team.members.filter(pk=request.user.pk).exists(),
        "invitations": team.invitations.select_related("user") if manager else [],
        "join_link": join_link(request, team) if manager else "",
    })


def _site(request: HttpRequest) -> str:
    return request.build_absolute_uri("/")


# Each POST action on a team: (the call, the message on success). ``username`` comes from the form.
TEAM_ACTIONS: dict[str, tuple[Callable[[HttpRequest, Team], object], str]] = {
    "invite": (lambda r, t: teams.invite(r.user, t, r.POST.get("username", ""), _site(r)), "Invitation sent."),
    "remove": (lambda r, t: teams.remove_member(r.user, t, r.POST.get("username", "")),
               "Member removed. The join link was replaced, so the old one cannot bring them back."),
    "transfer": (lambda r, t: teams.transfer(r.user, t, r.POST.get("username", "")), "Ownership transferred."),
    "reset-link": (lambda r, t: teams.reset_link(r.user, t), "A new join link replaces the old one."),
    "leave": (lambda r, t: teams.leave(r.user, t), "You left the team."),
}


@login_required
@require_POST
def team_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    team = visible_team(request.user, pk)
    call, done = TEAM_ACTIONS[action]
    try:
        call(request, team)
    except TeamError as exc:
        messages.error(request, str(exc))
        return redirect(team)
    messages.success(request, done)
    return redirect("teams" if action == "leave" else team.get_absolute_url())


@login_required
@require_POST
def invitation_action(request: HttpRequest, pk: int, accept: bool) -> HttpResponse:
    invitation = get_object_or_404(TeamInvitation.objects.select_related("team"), pk=pk, user=request.user)
    if accept:
        team = teams.accept(request.user, invitation)
        messages.success(request, f"You joined {team.name}.")
        return redirect(team)
    teams.decline(request.user, invitation)
    messages.success(request, "Invitation declined.")
    return redirect("teams")


@login_required
def join(request: HttpRequest, token: str) -> HttpResponse:
    """The team link: shows the team and a button; joining is a POST (a link preview must not join anyone)."""
    try:
        team = teams.team_for_token(token)
    except TeamError as exc:
        raise Http404(str(exc)) from None
    if request.method == "POST":
        try:
            teams.join_by_link(request.user, token)
        except TeamError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"You joined {team.name}.")
        return redirect(team)
    member = team.members.filter(pk=request.user.pk).exists()
    return render(request, "web/team_join.html", {"team": team, "is_member": member})

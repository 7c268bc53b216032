"""Teams in the API (/api/v1/teams/, /api/v1/team-invitations/): the same actions as the team pages
(``submissions.teams``). A team is visible to its members and staff; anyone else gets 404."""
from __future__ import annotations

from collections.abc import Callable

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from leaderboard.submissions import teams
from leaderboard.submissions.models import Team, TeamInvitation
from leaderboard.submissions.teams import TeamError, can_manage_team
from leaderboard.submissions.visibility import is_staff


class TeamSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True, allow_null=True, default=None)
    members = serializers.SlugRelatedField(many=True, read_only=True, slug_field="username")
    join_token = serializers.SerializerMethodField(help_text="The join link's secret (owner and staff only)")
    invited = serializers.SerializerMethodField(help_text="Usernames invited and not answered yet (owner and staff only)")

    class Meta:
        model = Team
        fields = ["id", "name", "owner", "members", "created_at", "join_token", "invited"]
        read_only_fields = fields

    def _manages(self, team: Team) -> bool:
        return can_manage_team(self.context["request"].user, team)

    def get_join_token(self, team: Team) -> str | None:
        return team.invite_token if self._manages(team) else None

    def get_invited(self, team: Team) -> list[str] | None:
        return [i.user.username for i in team.invitations.all()] if self._manages(team) else None


class TeamCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)


class UsernameSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=64)


class InvitationSerializer(serializers.ModelSerializer):
    team = serializers.CharField(source="team.name", read_only=True)
    team_id = serializers.IntegerField(read_only=True)
    invited_by = serializers.CharField(source="invited_by.username", read_only=True, allow_null=True, default=None)

    class Meta:
        model = TeamInvitation
        fields = ["id", "team", "team_id", "invited_by", "created_at"]
        read_only_fields = fields


def team_error(exc: TeamError) -> Response:
    return Response({"error": "team_error", "field": exc.field, "detail": str(exc)}, status=exc.status_code)


def _username(request: Request) -> str:
    form = UsernameSerializer(data=request.data)
    form.is_valid(raise_exception=True)
    return form.validated_data["username"]


class TeamViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Your teams (staff: every team). Create one, invite by username or link, leave; the owner (or staff) removes
    members, transfers ownership and replaces the link. Errors: 400/403/404 with ``detail`` naming the problem."""

    serializer_class = TeamSerializer
    permission_classes = [permissions.IsAuthenticated]

    def get_queryset(self):
        user = self.request.user
        qs = Team.objects.select_related("owner").prefetch_related("members", "invitations__user").order_by("name")
        return qs if is_staff(user) else qs.filter(members=user)

    def _act(self, call: Callable[[Team], object]) -> Response:
        team = self.get_object()
        try:
            call(team)
        except TeamError as exc:
            return team_error(exc)
        still_visible = self.get_queryset().filter(pk=team.pk).first()  # not after leaving
        return Response(self.get_serializer(still_visible).data if still_visible else {"detail": f"You left {team.name}."})

    def _from_form(self, form_class: type[serializers.Serializer], call: Callable[[dict], Team],
                   code: int = status.HTTP_200_OK) -> Response:
        """Validate ``form_class`` (400 naming the fields), then the team ``call`` returns, or its TeamError."""
        form = form_class(data=self.request.data)
        form.is_valid(raise_exception=True)
        try:
            team = call(form.validated_data)
        except TeamError as exc:
            return team_error(exc)
        return Response(self.get_serializer(team).data, status=code)

    @extend_schema(request=TeamCreateSerializer, responses={201: TeamSerializer})
    def create(self, request: Request) -> Response:
        return self._from_form(TeamCreateSerializer, lambda data: teams.create_team(request.user, data["name"]),
                               status.HTTP_201_CREATED)

    @extend_schema(request=UsernameSerializer, responses={201: InvitationSerializer})
    @action(detail=True, methods=["post"])
    def invite(self, request: Request, pk=None) -> Response:
        team = self.get_object()
        try:
            invitation = teams.invite(request.user, team, _username(request), request.build_absolute_uri("/"))
        except TeamError as exc:
            return team_error(exc)
        return Response(InvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=UsernameSerializer, responses=TeamSerializer)
    @action(detail=True, methods=["post"])
    def remove(self, request: Request, pk=None) -> Response:
        return self._act(lambda team: teams.remove_member(request.user, team, _username(request)))

    @extend_schema(request=UsernameSerializer, responses=TeamSerializer)
    @action(detail=True, methods=["post"])
    def transfer(self, request: Request, pk=None) -> Response:
        return self._act(lambda team: teams.transfer(request.user, team, _username(request)))

    @extend_schema(request=None, responses=TeamSerializer)
    @action(detail=True, methods=["post"], url_path="reset-link", url_name="reset-link")
    def reset_link(self, request: Request, pk=None) -> Response:
        return self._act(lambda team: teams.reset_link(request.user, team))

    @extend_schema(request=None, responses=dict)
    @action(detail=True, methods=["post"])
    def leave(self, request: Request, pk=None) -> Response:
        return self._act(lambda team: teams.leave(request.user, team))

    @extend_schema(request=TokenSerializer, responses=TeamSerializer)
    @action(detail=False, methods=["post"])
    def join(self, request: Request) -> Response:
        """Join with the token of a team's link (the part after /teams/join/)."""
        return self._from_form(TokenSerializer, lambda data: teams.join_by_link(request.user, data["token"]))


class InvitationViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Invitations waiting for you: accept or decline."""

    serializer_class = InvitationSerializer
    permission_classes = [permissions.IsAuthenticated]

    def get_queryset(self):
        return TeamInvitation.objects.filter(user=self.request.user).select_related("team", "invited_by")

    @extend_schema(request=None, responses=TeamSerializer)
    @action(detail=True, methods=["post"])
    def accept(self, request: Request, pk=None) -> Response:
        team = teams.accept(request.user, self.get_object())
        return Response(TeamSerializer(team, context=self.get_serializer_context()).data)

    @extend_schema(request=None, responses={204: None})
    @action(detail=True, methods=["post"])
    def decline(self, request: Request, pk=None) -> Response:
        teams.decline(request.user, self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

from django.urls import path

from leaderboard.web import compare, failures, host, leaderboard_views, submit_help, teams, views

urlpatterns = [
    path("", leaderboard_views.home, name="home"),
    path("benchmarks/<slug:slug>/", leaderboard_views.benchmark_detail, name="benchmark-detail"),
    path("benchmarks/<slug:slug>/sample_ids.txt", submit_help.sample_ids_txt, name="benchmark-sample-ids"),
    path("benchmarks/<slug:slug>/template.npz", submit_help.template_npz, name="benchmark-template"),
    path("benchmarks/<slug:slug>/inputs.json", submit_help.inputs_json, name="benchmark-inputs"),
    path("methods/<path:name>", compare.method_detail, name="method-detail"),
    path("compare/", compare.compare, name="compare"),
    path("submit/", views.submit, name="submit"),
    path("submissions/mine/", views.my_submissions, name="my-submissions"),
    path("submissions/<uuid:uuid>/", views.submission_detail, name="submission-detail"),
    path("submissions/<uuid:uuid>/status.json", views.submission_status, name="submission-status"),
    path("submissions/<uuid:uuid>/results.json", views.submission_results, name="submission-results"),
    path("submissions/<uuid:uuid>/upload", views.submission_upload, name="submission-upload"),
    path("submissions/<uuid:uuid>/per-sample/<slug:slug>.<str:fmt>", views.submission_per_sample, name="submission-per-sample"),
    path("submissions/<uuid:uuid>/failures/<slug:slug>/", failures.failures, name="submission-failures"),
    path("submissions/<uuid:uuid>/failures/<slug:slug>/render/<int:rank>.png", failures.render_png,
         name="submission-failure-render"),
    path("submissions/<uuid:uuid>/cancel", views.submission_cancel, name="submission-cancel"),
    path("submissions/<uuid:uuid>/publish", views.submission_publish, {"publish": True}, name="submission-publish"),
    path("submissions/<uuid:uuid>/unpublish", views.submission_publish, {"publish": False}, name="submission-unpublish"),
    path("api/", views.about_api, name="api-help"),
    path("teams/", teams.team_list, name="teams"),
    path("teams/<int:pk>/", teams.team_detail, name="team-detail"),
    *(path(f"teams/<int:pk>/{action}", teams.team_action, {"action": action}, name=f"team-{action}")
      for action in teams.TEAM_ACTIONS),
    path("teams/invitations/<int:pk>/accept", teams.invitation_action, {"accept": True}, name="team-invitation-accept"),
    path("teams/invitations/<int:pk>/decline", teams.invitation_action, {"accept": False}, name="team-invitation-decline"),
    path("teams/join/<str:token>/", teams.join, name="team-join"),
    path("host/import/", host.host_import, name="host-import"),
    path("host/imports/<int:pk>/", host.host_import_detail, name="host-import-detail"),
    path("host/imports/<int:pk>/status.json", host.host_import_status, name="host-import-status"),
]

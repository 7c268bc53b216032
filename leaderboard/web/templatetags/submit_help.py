from django import template

from leaderboard.web.submit_help import how_to_submit as context_for

register = template.Library()


@register.inclusion_tag("web/_how_to_submit.html", takes_context=True)
def how_to_submit(context, benchmark) -> dict:
    return {**context_for(benchmark), "request": context.get("request")}


@register.inclusion_tag("web/_quota_left.html", takes_context=True)
def quota_left(context) -> dict:
    """The signed-in user's quotas and their teams' before an upload (the same rules the upload applies)."""
    from leaderboard.benchmarks.models import Benchmark
    from leaderboard.submissions.quotas import quota_left as compute

    benchmarks = list(Benchmark.objects.filter(is_active=True))
    quota = compute(context["request"].user, benchmarks)

    def rows(usage: dict) -> list[dict]:
        return [{"benchmark": b, "usage": usage.get(b.slug), "closed": quota.closed.get(b.slug)} for b in benchmarks]

    return {"quota": quota, "rows": rows(quota.per_benchmark),
            "teams": [{"name": name, "rows": rows(usage)} for name, usage in quota.teams.items()]}

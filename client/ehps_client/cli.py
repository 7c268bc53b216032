"""The ``ehps`` command (also ``python -m ehps_client`` and ``python -m leaderboard.client``).

Exit codes: 0 success (a finished submission), 1 the submission failed or was cancelled, 2 an error.
Progress and messages go to stderr; data (tables, CSV, JSON) to stdout, so output can be piped.
"""
from __future__ import annotations

import getpass
import itertools
import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich import box
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Table

from . import config
from .api import FINAL, ApiClient, ApiError, NotOffered
from .check import run_check

# Typer's usage errors: click's ClickException, or in recent typer versions its vendored copy (typer._click); both are
# ancestors of typer.BadParameter, so the class is found there whichever typer is installed.
ClickException = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


class UsageProblem(ValueError):
    """A command given the wrong arguments (exit 2, like typer's own usage errors)."""


app = typer.Typer(name="ehps", help="Submit to the EHPS Leaderboard and read its results.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)
out = Console()
err = Console(stderr=True)

UrlOpt = Annotated[Optional[str], typer.Option("--url", help=f"server URL (default: ${config.URL_ENV}, the config file, {config.DEFAULT_URL})")]
TokenOpt = Annotated[Optional[str], typer.Option("--token", help=f"API token (default: ${config.TOKEN_ENV}, then the config file)")]
InsecureOpt = Annotated[bool, typer.Option("--insecure", help="send your token or password to a remote http:// "
                                           "server anyway (it travels unencrypted)")]
_globals: dict = {"url": None, "token": None, "insecure": False}


@app.callback()
def _common(url: UrlOpt = None, token: TokenOpt = None, insecure: InsecureOpt = False) -> None:
    """Options given before the command apply to every command."""
    _globals.update(url=url, token=token, insecure=insecure)


def client(url: Optional[str], token: Optional[str], need_token: bool = True) -> ApiClient:
    settings = config.resolve(url or _globals["url"], token or _globals["token"])
    if need_token and not settings.token:
        raise ApiError(401, f"no API token for {settings.url}: run `ehps login --url {settings.url}`, "
                            f"or set {config.TOKEN_ENV}")
    return ApiClient(settings.url, settings.token, insecure=_globals["insecure"])


def fmt(value: object, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def print_submission(sub: dict) -> None:
    out.print(f"[bold]{sub['method_name']}[/bold]  {sub['id']}  [bold]{sub['status']}[/bold]"
              f"{'  public' if sub.get('is_public') else ''}")
    if sub.get("error_message"):
        out.print(f"error: {sub['error_message']}", style="red", markup=False)
    for label, key in (("MPE", "mpe"), ("hand MPE", "hand_mpe"), ("hand PA-MPE", "pa_hand_mpe")):
        if sub.get(key) is not None:
            out.print(f"{label:>12}: {sub[key]:.2f} mm")
    for result in sub.get("results", []):
        out.print(f"\n{result['benchmark']} / {result['split']} ({result['num_samples']} samples)", markup=False)
        table = Table(show_edge=False)
        table.add_column("metric")
        table.add_column("mm", justify="right")
        for metric, value in result["metrics"].items():
            primary = metric == result["primary_metric"]
            table.add_row(f"{metric} *" if primary else metric, fmt(value, 2), style="bold" if primary else None)
        out.print(table)
    out.print(sub["url"], markup=False)


def _exit_for(status: str) -> int:
    return 0 if status == "finished" else 1


def wait_for(api: ApiClient, sid: str, interval: float) -> dict:
    last = None
    for status in api.wait(sid, interval=interval):
        line = f"{status['status']:<10} {status['progress_done']}/{status['progress_total']} shards ({status['progress_percent']}%)"
        if line != last:
            err.print(line, markup=False)
            last = line
    return api.submission(sid)


@app.command()
def login(url: UrlOpt = None, token: TokenOpt = None,
          username: Annotated[Optional[str], typer.Option(help="ask the server for your token with your password")] = None,
          password_stdin: Annotated[bool, typer.Option("--password-stdin", help="read the password from standard "
                                                       "input (for scripts; needs --username)")] = False,
          insecure: InsecureOpt = False) -> None:
    """Save your API token for a server (tokens are kept per server URL); prompts unless --token or --password-stdin."""
    settings = config.resolve(url or _globals["url"], None)
    token, insecure = token or _globals["token"], insecure or _globals["insecure"]
    if password_stdin and (token or not username):
        raise UsageProblem("--password-stdin needs --username (and no --token)")
    with ApiClient(settings.url, insecure=insecure) as anonymous:
        if not token:
            username = username or typer.prompt("username")
            password = sys.stdin.readline().rstrip("\r\n") if password_stdin else getpass.getpass("password: ")
            token = anonymous.obtain_token(username, password)
    with ApiClient(settings.url, token, insecure=insecure) as api:
        api.list(limit=1)  # proves the token works before it is saved
    path = config.write_config(settings.url, token)
    err.print(f"logged in to {settings.url}; token saved for it in {path} (mode 600)", markup=False)


@app.command()
def check(
    file: Annotated[Path, typer.Argument(help="predictions .npz, or a .zip of <benchmark>.npz (as uploaded)")],
    benchmark: Annotated[list[str], typer.Option("--benchmark", "-b", help="benchmark slug: its ids come from "
                         "./SLUG-sample_ids.txt when present, else from the server (a .zip names its own)")] = [],
    sample_ids: Annotated[Optional[Path], typer.Option(
        "--sample-ids", help="one expected sample id a line, or the benchmark's inputs.json (which also names the "
                             "keys the benchmark requires, e.g. joints3d on a BEDLAM benchmark)")] = None,
    url: UrlOpt = None,
) -> None:
    """The site's upload checks, offline: keys, shapes, dtypes, NaN, ids (no ground truth, no token needed)."""
    server = config.resolve(url or _globals["url"], None).url
    code = run_check(file, benchmark, sample_ids, server, say=lambda line: out.print(line, markup=False, soft_wrap=True),
                     complain=lambda line: err.print(line, markup=False, soft_wrap=True))
    raise typer.Exit(code)


@app.command("convert-agora")
def convert_agora_cmd(
    zip_file: Annotated[Path, typer.Argument(help="the official per-person .pkl zip (AGORA / BEDLAM format)")],
    output: Annotated[Path, typer.Option("--output", "-o", help="the .npz to write")] = Path("pred.npz"),
) -> None:
    """Multi-person benchmarks: turn <image>_personId_<k>.pkl files into one predictions .npz (here, not on the server)."""
    from .convert_agora import ConvertError, convert_agora

    try:
        done = convert_agora(zip_file, output)
    except (ConvertError, OSError, ValueError) as exc:
        err.print(str(exc), markup=False)
        raise typer.Exit(2)
    for note in done["notes"]:
        err.print(f"note: {note}", markup=False)
    out.print(f"wrote {output}: {done['people']} people in {done['images']} images", markup=False, soft_wrap=True)


@app.command()
def submit(
    file: Annotated[Optional[Path], typer.Argument(help="predictions .npz, a .zip of <benchmark>.npz, or a model file")] = None,
    benchmark: Annotated[list[str], typer.Option("--benchmark", "-b", help="benchmark slug (repeat for several; omit for a .zip)")] = [],
    method: Annotated[str, typer.Option("--method", "-m", help="method name shown on the leaderboard")] = "",
    kind: Annotated[str, typer.Option(help="predictions | container | model_archive")] = "predictions",
    description: str = "", paper_url: str = "", code_url: str = "",
    team: Annotated[str, typer.Option(help="submit for a team you are a member of")] = "",
    code_commit: Annotated[str, typer.Option(help="git commit of the code at --code-url")] = "",
    ms_per_image: Annotated[Optional[float], typer.Option(help="your inference ms per image (median after a warm-up); shown as reported")] = None,
    params: Annotated[Optional[int], typer.Option(help="your model's parameter count; shown as reported")] = None,
    peak_memory_mb: Annotated[Optional[float], typer.Option(help="peak inference memory in MB; shown as reported")] = None,
    device: Annotated[str, typer.Option(help="what --ms-per-image was measured on, e.g. 'NVIDIA A100 80GB'")] = "",
    wait: Annotated[bool, typer.Option("--wait", help="follow the evaluation and print the results")] = False,
    interval: Annotated[float, typer.Option(help="seconds between status polls")] = 2.0,
    file_opt: Annotated[Optional[Path], typer.Option("--file", hidden=True)] = None,  # the old client's spelling
    url: UrlOpt = None, token: TokenOpt = None,
) -> None:
    """Upload a file (streamed, with a progress bar) and start its evaluation."""
    path = file or file_opt
    if path is None:
        raise UsageProblem("give the file to upload")
    if not path.is_file():
        raise UsageProblem(f"no such file: {path}")
    if not method:
        raise UsageProblem("give the method name with --method")
    with client(url, token) as api, Progress(
        TextColumn("uploading {task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
        TimeRemainingColumn(), console=err, transient=True,
    ) as progress:
        task = progress.add_task(path.name, total=path.stat().st_size)
        reported = {"code_commit": code_commit, "ms_per_image": ms_per_image, "params": params,
                    "peak_memory_mb": peak_memory_mb, "device": device}  # the server checks them (400 naming one)
        created = api.submit(path, benchmark, method, kind,
                             {"description": description, "paper_url": paper_url, "code_url": code_url, "team": team,
                              **{k: repr(v) if isinstance(v, float) else str(v) for k, v in reported.items() if v not in (None, "")}},
                             on_progress=lambda n: progress.advance(task, n))
    out.print(f"submitted {created['id']} ({', '.join(created['benchmarks'])}): {created['url']}", markup=False)
    if wait:
        with client(url, token) as api:
            final = wait_for(api, created["id"], interval)
        print_submission(final)
        raise typer.Exit(_exit_for(final["status"]))


@app.command()
def status(sid: Annotated[str, typer.Argument(metavar="ID")],
           wait: Annotated[bool, typer.Option("--wait", help="poll until the evaluation ends")] = False,
           interval: float = 2.0, url: UrlOpt = None, token: TokenOpt = None) -> None:
    """A submission's status and, once finished, its results (exit 1 if it failed)."""
    with client(url, token, need_token=False) as api:
        sub = wait_for(api, sid, interval) if wait else api.submission(sid)
    print_submission(sub)
    if sub["status"] in FINAL:
        raise typer.Exit(_exit_for(sub["status"]))


@app.command("list")
def list_(limit: int = 50, url: UrlOpt = None, token: TokenOpt = None) -> None:
    """Your submissions, newest first."""
    with client(url, token) as api:
        rows = api.list(limit)
    table = Table(show_edge=False)
    for column in ("id", "method", "benchmarks", "status", "public", "MPE", "created"):
        table.add_column(column, justify="right" if column == "MPE" else "left")
    for s in rows:
        table.add_row(s["id"], s["method_name"], ", ".join(s["benchmarks"]), s["status"],
                      "yes" if s["is_public"] else "no", fmt(s["mpe"]), s["created_at"][:16].replace("T", " "))
    out.print(table if rows else "no submissions yet")


def _publish(sid: str, name: str, url: Optional[str], token: Optional[str]) -> None:
    with client(url, token) as api:
        sub = api.action(sid, name)
    verb = {"publish": "published", "unpublish": "unpublished", "cancel": "cancelled"}[name]
    out.print(f"{verb} {sub['id']} ({sub['method_name']}): {sub['url']}", markup=False)


@app.command()
def publish(sid: Annotated[str, typer.Argument(metavar="ID")],
            undo: Annotated[bool, typer.Option("--unpublish", help="take it off the public leaderboard")] = False,
            url: UrlOpt = None, token: TokenOpt = None) -> None:
    """Show a finished submission on the public leaderboard (or take it off with --unpublish)."""
    _publish(sid, "unpublish" if undo else "publish", url, token)


@app.command()
def cancel(sid: Annotated[str, typer.Argument(metavar="ID")], url: UrlOpt = None, token: TokenOpt = None) -> None:
    """Stop a submission that is not final yet."""
    _publish(sid, "cancel", url, token)


METHOD_WIDTH = 24  # longer method names end in an ellipsis: the table must fit an 80-column terminal


def board_table(columns: list[str], method_width: int) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)  # 3 characters between columns
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("method", width=method_width, no_wrap=True, overflow="ellipsis")
    for column in columns:
        table.add_column(column, justify="right", no_wrap=True)
    return table


def fitting_columns(columns: list[str], cells: list[list[str]], method_width: int, width: int) -> int:
    """How many of the value ``columns`` (in order) fit beside the rank and the method name in ``width``."""
    used = 3 + 3 + method_width  # "#" up to 3 digits, the gap, the method
    for i, column in enumerate(columns):
        used += 3 + max(len(column), *(len(row[i]) for row in cells))
        if used > width:
            return i
    return len(columns)


@app.command()
def leaderboard(
    benchmark: Annotated[Optional[str], typer.Argument(help="benchmark slug; omit for the overall (MPE) board")] = None,
    csv: Annotated[bool, typer.Option("--csv", help="print the CSV export instead of a table")] = False,
    split: Annotated[Optional[str], typer.Option(help="a revealed split (default: the ranking split)")] = None,
    url: UrlOpt = None, token: TokenOpt = None,
) -> None:
    """A public leaderboard as a table, or as CSV."""
    with client(url, token, need_token=False) as api:
        data = api.leaderboard(benchmark, csv=csv, split=split)
    if csv:
        sys.stdout.write(data)
        return
    if benchmark:
        primary = data["benchmark"]["primary_metric"]
        columns = [primary, *[m for m in data["metrics"] if m != primary]]
        cells = [[fmt(row["metrics"].get(m)) for m in columns] for row in data["rows"]]
        title = f"{data['benchmark']['name']} ({data['split'] or 'no revealed split'}), mm, lower is better"
        elsewhere = "--csv, or the benchmark page"
    else:
        columns = ["MPE", "hand MPE", *[b["slug"] for b in data["benchmarks"]]]
        cells = [[fmt(row["mpe"]), fmt(row["hand_mpe"]), *[fmt(row["primary"].get(b["slug"])) for b in data["benchmarks"]]]
                 for row in data["rows"]]
        title = "Overall, mm, lower is better"
        elsewhere = "--csv, or `ehps leaderboard SLUG`"
    out.print(title if data["rows"] else f"{title}: no published results yet", markup=False)
    if not data["rows"]:
        return
    method_width = min(METHOD_WIDTH, max(len("method"), *(len(row["method_name"]) for row in data["rows"])))
    shown = fitting_columns(columns, cells, method_width, out.width)
    # rows come in display order, section by section: computed here, reported in papers, without a comparable score
    for section, group in itertools.groupby(zip(data["rows"], cells), key=lambda pair: pair[0].get("coverage") or ""):
        if section:
            out.print(f"\n{section}", markup=False, style="bold", overflow="fold")
        table = board_table(columns[:shown], method_width)
        for row, values in group:
            table.add_row(fmt(row["rank"]), row["method_name"], *values[:shown])
        out.print(table)
    if shown < len(columns):
        out.print(f"not shown ({out.width} columns): {', '.join(columns[shown:])}; see {elsewhere}",
                  markup=False, overflow="fold")


@app.command()
def download(sid: Annotated[str, typer.Argument(metavar="ID")],
             out_dir: Annotated[Path, typer.Option("--out", help="folder to write into")] = Path("."),
             file_format: Annotated[str, typer.Option("--format", help="per-sample file format: csv or npz")] = "csv",
             url: UrlOpt = None, token: TokenOpt = None) -> None:
    """Save a submission's results (JSON) and your per-sample errors on each benchmark (revealed splits only)."""
    with client(url, token, need_token=False) as api:
        sub = api.submission(sid)
        out_dir.mkdir(parents=True, exist_ok=True)
        results = out_dir / f"results-{sub['id']}.json"
        results.write_text(json.dumps(sub, indent=2))
        err.print(f"wrote {results}", markup=False)
        if sub["status"] != "finished":
            err.print(f"per-sample errors come once the submission has finished (it is {sub['status']})", markup=False)
            return
        for slug in sub["benchmarks"]:
            try:
                data = api.per_sample(sub["id"], slug, file_format)
            except NotOffered as exc:
                err.print(f"no per-sample errors: {exc}", markup=False)
                if "offers no per-sample" in str(exc):
                    return
                continue
            target = out_dir / f"per-sample-{sub['id']}-{slug}.{file_format}"
            target.write_bytes(data)
            err.print(f"wrote {target}", markup=False)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (readable errors on stderr, never a traceback)."""
    try:
        code = app(args=argv, prog_name="ehps", standalone_mode=False)  # returns an Exit's code here
    except ApiError as exc:
        err.print(f"error: {exc}", markup=False)
        return 2
    except typer.Exit as exc:
        return exc.exit_code
    except ClickException as exc:
        exc.show(file=sys.stderr)
        return 2
    except typer.Abort:
        err.print("aborted", markup=False)
        return 2
    except (OSError, ValueError) as exc:
        err.print(f"error: {exc}", markup=False)
        return 2
    return code if isinstance(code, int) else 0


def run() -> None:
    sys.exit(main())

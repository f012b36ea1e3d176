"""The sweep's report: a terminal summary (with a progress bar while it runs), JSON, and
one self-contained HTML file (styles inline, no scripts, nothing fetched; every name and
command is escaped — they are chosen by whoever planted them)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import jinja2
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from . import SweepResult

_COLOURS = {"clean": "green", "suspicious": "yellow", "malicious": "bold red"}
_LABELS = {"en": {"clean": "CLEAN", "suspicious": "SUSPICIOUS", "malicious": "MALICIOUS"},
           "zh": {"clean": "安全", "suspicious": "可疑", "malicious": "危险"}}
_SOURCES = {
    "run_key": ("Run key", "注册表启动项"), "startup_folder": ("Startup folder", "启动文件夹"),
    "task": ("scheduled task", "计划任务"), "service": ("service", "服务"), "cron": ("cron", "定时任务 (cron)"),
    "systemd": ("systemd unit", "systemd 服务"), "xdg_autostart": ("desktop autostart", "桌面自启动"),
    "shell_rc": ("shell start-up file", "shell 启动文件"), "launchd": ("LaunchAgent/Daemon", "LaunchAgent/Daemon"),
    "recent_file": ("recent file", "近期文件"), "process": ("process", "进程"), "connection": ("connection", "网络连接"),
}
MAX_UNREADABLE_SHOWN = 20


@contextmanager
def progress_bar(console: Console, enabled: bool) -> Iterator[Any]:
    """A progress callback for :func:`run_sweep` drawing a bar on ``console``."""
    if not enabled:
        yield None
        return
    bar = Progress(TextColumn("[bold]sweep[/]"), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   console=console, transient=True)
    with bar:
        task = bar.add_task("starting", total=1)

        def update(step: str, done: int, total: int) -> None:
            bar.update(task, description=step, completed=done, total=max(total, 1))

        yield update


def print_summary(console: Console, result: SweepResult, language: str = "en") -> None:
    zh = language == "zh"
    labels = _LABELS["zh" if zh else "en"]
    verdict = result.verdict
    where = str(result.target.root) if result.target.root else ("这台电脑" if zh else "this computer")
    head = "检查结果" if zh else "Sweep of"
    console.print(f"\n[bold]{head} {escape(where)}[/] ({result.target.os}): "
                  f"[{_COLOURS[verdict]}]{labels[verdict]}[/]")
    flagged = result.flagged
    if flagged:
        table = Table(show_header=True, header_style="bold", expand=False, show_lines=False)
        table.add_column("结果" if zh else "verdict")
        table.add_column("来源" if zh else "what")
        table.add_column("名称" if zh else "name", overflow="fold")
        table.add_column("原因" if zh else "why", overflow="fold")
        for entry in flagged:
            finding = entry.findings[0]
            source = _SOURCES.get(entry.source, (entry.source, entry.source))[1 if zh else 0]
            table.add_row(f"[{_COLOURS[entry.verdict]}]{labels[entry.verdict]}[/]", source, escape(clean(entry.name)),
                          escape(clean(finding.message_zh if zh else finding.message)))
        console.print(table)
    else:
        console.print("没有发现问题。" if zh else "Nothing found.")
    if result.unreadable:
        console.print(f"\n[bold]{'无法读取（没有权限或出错）' if zh else 'Could not read'}[/] ({len(result.unreadable)}):")
        for item in result.unreadable[:MAX_UNREADABLE_SHOWN]:
            console.print(f"  - {escape(item.source)}: {escape(clean(item.path))} — {escape(clean(item.reason))}")
        if len(result.unreadable) > MAX_UNREADABLE_SHOWN:
            rest = len(result.unreadable) - MAX_UNREADABLE_SHOWN
            console.print(f"  … {rest} {'条，见 --json / --html 报告' if zh else 'more in the --json / --html report'}")
    partial = [item for item in result.coverage if item.status != "checked"]
    for item in partial:
        console.print(f"[dim]{escape(item.source)}: {escape(item.status)} — {escape(item.detail)}[/]")
    counts = result.counts()
    seconds = result.finished - result.started
    line = (f"{counts['entries']} 项已检查，{len(flagged)} 项有问题，用时 {seconds:.1f} 秒" if zh
            else f"{counts['entries']} entries checked, {len(flagged)} flagged, in {seconds:.1f}s")
    console.print(f"\n{line}")


def to_json(result: SweepResult) -> str:
    return json.dumps(clean(result.to_dict()), ensure_ascii=False, indent=2)


def clean(value: Any) -> Any:
    """Names that are not valid text (undecodable bytes in a file name, kept by Python as
    lone surrogates) shown as ``\\xNN`` so that JSON, HTML and the terminal can carry them."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
            return value
        except UnicodeEncodeError:
            return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    if isinstance(value, dict):
        return {clean(key): clean(item) for key, item in value.items()}
    if isinstance(value, list):
        return [clean(item) for item in value]
    return value


_HTML = jinja2.Environment(autoescape=True).from_string("""<!doctype html>
<html lang="{{ 'zh' if zh else 'en' }}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>filewall sweep — {{ data.host.hostname }}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI","Microsoft YaHei",sans-serif;margin:2em;color:#222;max-width:1200px}
h1{font-size:1.5em} h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
.v-malicious{color:#fff;background:#c0392b} .v-suspicious{background:#f1c40f} .v-clean{color:#fff;background:#27ae60}
.badge{padding:.15em .5em;border-radius:.3em;font-weight:bold;white-space:nowrap}
table{border-collapse:collapse;width:100%;font-size:.9em} td,th{border:1px solid #ddd;padding:.35em .5em;vertical-align:top;text-align:left}
th{background:#f5f5f5} code{font-family:Consolas,monospace;font-size:.9em;word-break:break-all}
.muted{color:#777} details{margin:.4em 0} summary{cursor:pointer;font-weight:bold}
</style></head><body>
<h1>filewall sweep: <span class="badge v-{{ data.verdict }}">{{ labels[data.verdict] }}</span></h1>
<p>{{ data.host.hostname }} · {{ data.host.user }} · {{ data.target.os }}
{% if data.target.root %} · {{ 'offline image' if not zh else '离线镜像' }} <code>{{ data.target.root }}</code>{% endif %}
· {{ data.started }} · {{ data.seconds }} s
{% if data.target.elevated is not none %} · {{ ('admin' if data.target.elevated else 'not admin') if not zh else ('管理员' if data.target.elevated else '非管理员') }}{% endif %}</p>
<p>{{ data.counts.entries }} {{ 'entries checked' if not zh else '项已检查' }}:
{% for name, count in data.counts.by_category.items() %}{{ count }} {{ name }}{% if not loop.last %}, {% endif %}{% endfor %}.
{{ data.counts.unreadable }} {{ 'could not be read' if not zh else '项无法读取' }}.</p>

<h2>{{ 'Findings' if not zh else '发现的问题' }}</h2>
{% if flagged %}<table><tr><th>{{ 'verdict' if not zh else '结果' }}</th><th>{{ 'what' if not zh else '来源' }}</th>
<th>{{ 'name' if not zh else '名称' }}</th><th>{{ 'why' if not zh else '原因' }}</th><th>{{ 'where' if not zh else '位置' }}</th></tr>
{% for entry in flagged %}<tr><td><span class="badge v-{{ entry.verdict }}">{{ labels[entry.verdict] }}</span> {{ entry.score }}</td>
<td>{{ source(entry.source) }}</td><td>{{ entry.name }}</td>
<td>{% for finding in entry.findings if finding.score > 0 %}<div>{{ finding.message_zh if zh else finding.message }}</div>{% endfor %}
{% if entry.command %}<div class="muted"><code>{{ entry.command }}</code></div>{% endif %}</td>
<td><code>{{ entry.location }}</code>{% if entry.image and entry.image != entry.location %}<br>→ <code>{{ entry.image }}</code>{% endif %}</td></tr>
{% endfor %}</table>{% else %}<p>{{ 'Nothing found.' if not zh else '没有发现问题。' }}</p>{% endif %}

<h2>{{ 'Could not read' if not zh else '无法读取' }}</h2>
{% if data.unreadable %}<ul>{% for item in data.unreadable %}<li>{{ source(item.source) }}: <code>{{ item.path }}</code> — {{ item.reason }}</li>{% endfor %}</ul>
{% else %}<p class="muted">{{ 'Everything could be read.' if not zh else '所有位置都已读取。' }}</p>{% endif %}
<h2>{{ 'Coverage' if not zh else '检查范围' }}</h2>
<ul>{% for item in data.coverage %}<li>{{ item.source }}: {{ item.status }}{% if item.detail %} — {{ item.detail }}{% endif %}</li>{% endfor %}</ul>

<h2>{{ 'Everything checked' if not zh else '全部检查项' }}</h2>
{% for category, entries in by_category %}<details><summary>{{ category }} ({{ entries|length }})</summary>
<table><tr><th>{{ 'verdict' if not zh else '结果' }}</th><th>{{ 'what' if not zh else '来源' }}</th><th>{{ 'name' if not zh else '名称' }}</th>
<th>{{ 'command / file' if not zh else '命令 / 文件' }}</th><th>{{ 'file exists · signed · folder · scan' if not zh else '文件存在 · 签名 · 文件夹 · 扫描' }}</th></tr>
{% for entry in entries %}<tr><td><span class="badge v-{{ entry.verdict }}">{{ labels[entry.verdict] }}</span></td><td>{{ source(entry.source) }}</td>
<td>{{ entry.name }}{% if entry.known_good %} <span class="muted">(filewall)</span>{% endif %}{% if entry.enabled == false %} <span class="muted">({{ 'disabled' if not zh else '已禁用' }})</span>{% endif %}</td>
<td><code>{{ entry.command or entry.image or '' }}</code>{% if entry.details.remote_ip %}<br>{{ entry.details.remote_ip }}:{{ entry.details.remote_port }} {{ entry.details.country }}{% endif %}</td>
<td>{{ yesno(entry.image_exists) }} · {{ yesno(entry.signed) }} · {{ entry.folder_class or '?' }} · {{ entry.scan.verdict if entry.scan else '—' }}</td></tr>
{% endfor %}</table></details>{% endfor %}
<p class="muted">filewall · {{ 'country of an address: registry delegation data (iptocc), offline' if not zh else '地址所属国家：区域互联网注册机构分配数据（iptocc），离线查询' }}</p>
</body></html>
""")


def to_html(result: SweepResult, language: str = "en") -> str:
    zh = language == "zh"
    data = clean(result.to_dict())
    flagged = [clean(entry.to_dict()) for entry in result.flagged]
    grouped: dict[str, list[dict[str, Any]]] = {}
    for entry in data["entries"]:
        grouped.setdefault(entry["category"], []).append(entry)

    def source(name: str) -> str:
        return _SOURCES.get(name, (name, name))[1 if zh else 0]

    def yesno(value: bool | None) -> str:
        if value is None:
            return "?"
        return ("是" if value else "否") if zh else ("yes" if value else "no")

    return _HTML.render(data=data, flagged=flagged, by_category=sorted(grouped.items()), zh=zh,
                        labels=_LABELS["zh" if zh else "en"], source=source, yesno=yesno)

"""Access-log lines for the weblog tests, written the way Apache's combined format writes them."""

from __future__ import annotations

import calendar
import time


def stamp(when: float) -> str:
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(when))


def line(
    when: float,
    ip: str = "192.0.2.1",
    path: str = "/",
    referrer: str = "-",
    status: int = 200,
    agent: str = "Mozilla/5.0",
    size: str = "512",
) -> str:
    return (
        f'{ip} - - [{stamp(when)}] "GET {path} HTTP/1.1" {status} {size} "{referrer}" "{agent}"\n'
    )


def normal_traffic(start: float, seconds: int, per_second: int = 5) -> list[str]:
    """Ordinary visitors: search engines, no Referer, the site's own pages and assets."""
    out = []
    refs = ["-", "https://www.google.com/", "https://www.example.com/", "https://www.bing.com/"]
    for s in range(seconds):
        for i in range(per_second):
            n = s * per_second + i
            path = ["/", "/about", "/static/site.css", "/img/a.png", "/forum/"][n % 5]
            out.append(line(start + s, f"198.51.100.{n % 200 + 1}", path, refs[n % len(refs)]))
    return out


def iframe_flood(start: float, seconds: int, host: str = "seo-spam.example", ips: int = 20,
                 per_second: int = 40) -> list[str]:  # fmt: skip
    """The same clients loading the same dynamic page again and again via hidden iframes."""
    out = []
    for s in range(seconds):
        for i in range(per_second):
            out.append(
                line(
                    start + s,
                    f"203.0.113.{(s * per_second + i) % ips + 1}",
                    f"/forum/search.php?q={i % 3}",
                    f"https://{host}/best-casino-page.html",
                )
            )
    return out


def news_spike(start: float, seconds: int, per_second: int = 40) -> list[str]:
    """A link on a news site: many visitors once each; their assets carry the site's Referer."""
    out = []
    for s in range(seconds):
        for i in range(per_second):
            n = s * per_second + i
            ip = f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"
            out.append(line(start + s, ip, "/article/42", "https://news.example.org/today"))
            out.append(
                line(start + s, ip, "/static/site.css", "https://www.example.com/article/42")
            )
    return out


def days_with_floods(start: float, hours: int, spread: int = 60) -> list[str]:
    """A log over ``hours`` (crossing midnight when it starts late in a day): one ordinary
    request every ``spread`` seconds, a ten-minute flood from one site through two hosts at
    hour 1, seven smaller floods from other sites, and a Referer that tries to add markup.
    Sorted by time, as a web server writes them."""
    lines = normal_traffic(start, hours * 3600 // spread, per_second=1)
    lines = [_shifted(x, (i // 1) * (spread - 1)) for i, x in enumerate(lines)]
    big = start + 3600
    lines += iframe_flood(big, 600, "www.best-free-movies.example", per_second=12)
    lines += iframe_flood(big + 60, 540, "best-free-movies.example", per_second=8)
    for i in range(7):
        lines += iframe_flood(big + 120 + 50 * i, 40, f"casino-{i}.example", per_second=6 + i)
    hostile = 'https://x\\"><script>alert(1)</script><img src=x onerror=alert(2)>.evil.example/'
    lines += [line(big + 30 + s, "192.0.2.66", "/forum/?<b>bold</b>", hostile) for s in range(5)]
    return sorted(lines, key=lambda x: time.strptime(x.split("[")[1][:20], "%d/%b/%Y:%H:%M:%S"))


def _shifted(text: str, seconds: int) -> str:
    """A log line moved ``seconds`` later."""
    head, rest = text.split("[", 1)
    when = time.strptime(rest[:26], "%d/%b/%Y:%H:%M:%S +0000")
    moved = stamp(calendar.timegm(when) + seconds)
    return f"{head}[{moved}{rest[26:]}"

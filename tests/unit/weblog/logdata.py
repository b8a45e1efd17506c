"""Access-log lines for the weblog tests, written the way Apache's combined format writes them."""

from __future__ import annotations

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

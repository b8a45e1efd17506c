"""Generate a synthetic combined access log for the weblog benchmarks (not a benchmark itself)."""

from __future__ import annotations

import random
import sys
import time

REFERRERS = [
    "-",
    "https://www.google.com/",
    "https://www.bing.com/search?q=forum",
    "https://duckduckgo.com/",
    "https://news.example.org/story/123",
    "https://shop.example.net/cart?id=9",
] + [f"https://site{i}.example.com/page/{i % 13}" for i in range(3000)]
PATHS = ["/", "/forum/search.php?q=x", "/index.php", "/static/app.css", "/img/logo.png"]
AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "curl/8.5.0",
]


def generate(path: str, lines: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    start = int(time.time()) - lines // 50
    with open(path, "w", encoding="ascii") as out:
        chunk = []
        for n in range(lines):
            t = time.gmtime(start + n // 50)
            stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", t)
            ip = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
            ref = REFERRERS[min(int(rng.paretovariate(1.2)) - 1, len(REFERRERS) - 1)]
            chunk.append(
                f'{ip} - - [{stamp}] "GET {rng.choice(PATHS)} HTTP/1.1" 200 {rng.randrange(9999)}'
                f' "{ref}" "{rng.choice(AGENTS)}"\n'
            )
            if len(chunk) >= 10000:
                out.writelines(chunk)
                chunk.clear()
        out.writelines(chunk)


if __name__ == "__main__":
    generate(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2_000_000)

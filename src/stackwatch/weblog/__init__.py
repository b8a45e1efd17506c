"""Web log defence: parsing access logs, growth, Referer-flood detection, block rules, following."""

"""The follower moved to core/follow.py (``nagios alerts --follow`` follows nagios.log with it
too); this name is the same module, for weblog's imports (and its tests' patches)."""

import sys

from stackwatch.core import follow
from stackwatch.core.follow import Follower as Follower
from stackwatch.core.follow import default_max_open as default_max_open

sys.modules[__name__] = follow

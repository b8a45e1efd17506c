"""nova-api under gunicorn: Nova's WSGI entry point parses sys.argv as its own command line,
which under gunicorn holds gunicorn's options; it is given only the program name (the
configuration comes from OS_NOVA_CONFIG_DIR). Loaded by the Nova under test, never by
stackwatch."""

import sys

sys.argv = sys.argv[:1]

from nova.wsgi.osapi_compute import application  # noqa: E402

__all__ = ["application"]

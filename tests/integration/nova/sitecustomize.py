"""Imported at start by the Nova processes of the tests (this directory is on their
PYTHONPATH): Nova imports a compute driver only from its nova.virt package, so the one name
nova.virt.loopback_console is found in nova_loopback_console.py beside this file."""

import importlib.abc
import importlib.util
import os
import sys

NAME = "nova.virt.loopback_console"
FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nova_loopback_console.py")


class _LoopbackConsoleFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):  # type: ignore[no-untyped-def]
        if name == NAME:
            return importlib.util.spec_from_file_location(name, FILE)
        return None


sys.meta_path.insert(0, _LoopbackConsoleFinder())

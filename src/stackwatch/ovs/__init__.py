"""Open vSwitch: reading OVSDB, manager/controller and kernel-module checks, bridge layouts."""

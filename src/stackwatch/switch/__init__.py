"""Switches over SNMP: links, the VLANs each trunk carries, and which hypervisor NIC is on it."""
